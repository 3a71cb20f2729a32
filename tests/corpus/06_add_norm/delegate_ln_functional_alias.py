"""Hands the work to torch.nn.functional.layer_norm through an aliased import."""
# exercise: layer_norm
# verdict: delegates
from torch.nn.functional import layer_norm as _normalise_tokens
def layer_norm(x, gamma, beta, eps=1e-5):
    for name, value in (("gamma", gamma), ("beta", beta)):
        if value.shape != x.shape[-1:]:
            raise ValueError(f"{name} has the wrong shape")
    return _normalise_tokens(x, x.shape[-1:], gamma, beta, eps)
