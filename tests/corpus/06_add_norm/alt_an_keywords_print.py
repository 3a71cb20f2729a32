"""Calls layer_norm with keyword arguments on sublayer_out + x and prints a note on every call."""
# exercise: add_and_norm
# verdict: correct
def add_and_norm(x, sublayer_out, gamma, beta, eps=1e-5):
    print("add_and_norm: post-norm, the residual is added before the norm")
    residual_sum = sublayer_out + x
    return layer_norm(x=residual_sum, gamma=gamma, beta=beta, eps=eps)
