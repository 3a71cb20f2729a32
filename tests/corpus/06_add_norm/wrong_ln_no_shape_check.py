"""Correct values but no ValueError for gamma or beta of the wrong shape (broadcasting errors instead)."""
# exercise: layer_norm
# verdict: wrong
def layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta
