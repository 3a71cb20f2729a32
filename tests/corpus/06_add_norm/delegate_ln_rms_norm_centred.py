"""RMS norm of the centred input, which is layer norm."""
# exercise: layer_norm
# verdict: delegates
def layer_norm(x, gamma, beta, eps=1e-5):
    centred = x - x.mean(dim=-1, keepdim=True)
    return torch.nn.functional.rms_norm(centred, x.shape[-1:], gamma, eps) + beta
