"""Returns the projections in the order (q, v, k)."""
# exercise: project_qkv
# verdict: wrong
def project_qkv(x, w_q, w_k, w_v):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    return q, v, k
