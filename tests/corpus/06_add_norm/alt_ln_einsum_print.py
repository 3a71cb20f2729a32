"""Means through einsum with a vector of 1/d, and a harmless print on every call."""
# exercise: layer_norm
# verdict: correct
def layer_norm(x, gamma, beta, eps=1e-5):
    d = x.shape[-1]
    if list(gamma.shape) != [d]:
        raise ValueError("bad gamma shape")
    if list(beta.shape) != [d]:
        raise ValueError("bad beta shape")
    avg = torch.full((d,), 1.0 / d, dtype=x.dtype)
    mean = torch.einsum("...d,d->...", x, avg).unsqueeze(-1)
    centred = x - mean
    var = torch.einsum("...d,d->...", centred * centred, avg).unsqueeze(-1)
    print("layer_norm called on", tuple(x.shape))
    return torch.addcmul(beta, centred / torch.sqrt(var + eps), gamma)
