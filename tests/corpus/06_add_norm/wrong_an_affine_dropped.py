"""Does not pass gamma and beta on: normalises with a unit scale and zero shift."""
# exercise: add_and_norm
# verdict: wrong
def add_and_norm(x, sublayer_out, gamma, beta, eps=1e-5):
    return layer_norm(x + sublayer_out, torch.ones_like(gamma), torch.zeros_like(beta), eps)
