"""Our solution, and collects numbers in a top-level loop: ordinary Python never costs a point."""
# exercise: project_qkv
# verdict: correct
_seen = []
for _i in range(3):
    _seen.append(_i)
def project_qkv(x, w_q, w_k, w_v):
    """Project token vectors to queries, keys and values.

    x:   (..., T, d_model)
    w_q: (d_model, d_k),  w_k: (d_model, d_k),  w_v: (d_model, d_v)
    returns (q, k, v) with q, k (..., T, d_k) and v (..., T, d_v):  Q = X W^Q, K = X W^K, V = X W^V
    """
    q = x @ w_q  # (..., T, d_k)
    k = x @ w_k  # (..., T, d_k)
    v = x @ w_v  # (..., T, d_v)
    return q, k, v
