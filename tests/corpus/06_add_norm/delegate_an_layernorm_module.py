"""Builds an nn.LayerNorm on the fly and copies gamma and beta into it."""
# exercise: add_and_norm
# verdict: delegates
def add_and_norm(x, sublayer_out, gamma, beta, eps=1e-5):
    norm = nn.LayerNorm(x.shape[-1], eps=eps).to(x.dtype)
    with torch.no_grad():
        norm.weight.copy_(gamma)
        norm.bias.copy_(beta)
    return norm(x + sublayer_out).detach()
