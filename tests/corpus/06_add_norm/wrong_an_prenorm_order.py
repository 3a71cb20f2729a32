"""Normalises x first and adds the sublayer output afterwards (pre-norm-like order)."""
# exercise: add_and_norm
# verdict: wrong
def add_and_norm(x, sublayer_out, gamma, beta, eps=1e-5):
    return layer_norm(x, gamma, beta, eps) + sublayer_out
