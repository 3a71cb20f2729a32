"""Adds the sublayer output into x in place (x += sublayer_out), changing the caller's tensor."""
# exercise: add_and_norm
# verdict: wrong
def add_and_norm(x, sublayer_out, gamma, beta, eps=1e-5):
    x += sublayer_out
    return layer_norm(x, gamma, beta, eps)
