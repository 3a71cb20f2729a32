"""Layer norm as group norm with one group."""
# exercise: layer_norm
# verdict: delegates
def layer_norm(x, gamma, beta, eps=1e-5):
    flat = x.reshape(-1, 1, x.shape[-1])
    return torch.nn.functional.group_norm(flat, 1, eps=eps).reshape(x.shape) * gamma + beta
