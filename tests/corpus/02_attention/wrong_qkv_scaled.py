"""Divides the queries by sqrt(d_k) already in the projection (the scaling belongs to attention)."""
# exercise: project_qkv
# verdict: wrong
import math
def project_qkv(x, w_q, w_k, w_v):
    return x @ w_q / math.sqrt(w_q.shape[1]), x @ w_k, x @ w_v
