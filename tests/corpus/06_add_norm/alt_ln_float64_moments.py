"""Works in float64 with E[x^2] - E[x]^2, then casts back to the input dtype."""
# exercise: layer_norm
# verdict: correct
def layer_norm(x, gamma, beta, eps=1e-5):
    d = x.shape[-1]
    if gamma.dim() != 1 or gamma.numel() != d:
        raise ValueError("layer_norm: gamma must be a vector of length d_model")
    if beta.dim() != 1 or beta.numel() != d:
        raise ValueError("layer_norm: beta must be a vector of length d_model")
    x64 = x.to(torch.float64)
    mean = x64.sum(-1, keepdim=True) / d
    var = (x64 * x64).sum(-1, keepdim=True) / d - mean * mean
    y = (x64 - mean) / (var + eps).sqrt()
    return (y * gamma.to(torch.float64) + beta.to(torch.float64)).to(x.dtype)
