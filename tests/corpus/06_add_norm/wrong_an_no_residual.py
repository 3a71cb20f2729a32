"""Normalises the sublayer output and forgets the residual x."""
# exercise: add_and_norm
# verdict: wrong
def add_and_norm(x, sublayer_out, gamma, beta, eps=1e-5):
    return layer_norm(sublayer_out, gamma, beta, eps)
