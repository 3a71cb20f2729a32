"""Multiplies by the transposed weights, x @ w.T, as if they were stored like nn.Linear's (d_out, d_in)."""
# exercise: project_qkv
# verdict: wrong
def project_qkv(x, w_q, w_k, w_v):
    return x @ w_q.T, x @ w_k.T, x @ w_v.T
