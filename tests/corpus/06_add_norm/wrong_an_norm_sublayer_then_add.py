"""Normalises only the sublayer output, then adds the residual: x + norm(sublayer_out)."""
# exercise: add_and_norm
# verdict: wrong
def add_and_norm(x, sublayer_out, gamma, beta, eps=1e-5):
    return x + layer_norm(sublayer_out, gamma, beta, eps)
