"""Uses w_q for all three projections."""
# exercise: project_qkv
# verdict: wrong
def project_qkv(x, w_q, w_k, w_v):
    return x @ w_q, x @ w_q, x @ w_q
