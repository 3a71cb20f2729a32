"""Normalises over the first axis (across the batch) instead of over the features of each token."""
# exercise: layer_norm
# verdict: wrong
def layer_norm(x, gamma, beta, eps=1e-5):
    d_model = x.shape[-1]
    if tuple(gamma.shape) != (d_model,):
        raise ValueError("gamma must have shape (d_model,)")
    if tuple(beta.shape) != (d_model,):
        raise ValueError("beta must have shape (d_model,)")
    mean = x.mean(dim=0, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=0, keepdim=True)
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta
