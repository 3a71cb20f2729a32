"""Adds the residual but never normalises."""
# exercise: add_and_norm
# verdict: wrong
def add_and_norm(x, sublayer_out, gamma, beta, eps=1e-5):
    return x + sublayer_out
