"""torch.var_mean with correction=0 and torch.rsqrt; validation through one loop over both arguments."""
# exercise: layer_norm
# verdict: correct
def layer_norm(x, gamma, beta, eps=1e-5):
    for name, value in (("gamma", gamma), ("beta", beta)):
        if value.shape != x.shape[-1:]:
            raise ValueError(f"{name} has shape {tuple(value.shape)}, expected {tuple(x.shape[-1:])}")
    var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
    return (x - mean) * torch.rsqrt(var + eps) * gamma + beta
