"""Adds eps to the standard deviation instead of to the variance inside the square root."""
# exercise: layer_norm
# verdict: wrong
def layer_norm(x, gamma, beta, eps=1e-5):
    d_model = x.shape[-1]
    if tuple(gamma.shape) != (d_model,):
        raise ValueError("gamma must have shape (d_model,)")
    if tuple(beta.shape) != (d_model,):
        raise ValueError("beta must have shape (d_model,)")
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True, correction=0)
    return gamma * (x - mean) / (std + eps) + beta
