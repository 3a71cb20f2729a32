"""Scales q first, fills with the dtype's most negative value, and writes the stable softmax inline."""
# exercise: scaled_dot_product_attention
# verdict: correct
def scaled_dot_product_attention(q, k, v, mask=None):
    d_k = q.size(-1)
    scores = torch.matmul(q * (1.0 / math.sqrt(d_k)), k.mT)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), torch.finfo(scores.dtype).min)
    scores = scores - scores.max(dim=-1, keepdim=True).values
    e = scores.exp()
    weights = e / e.sum(-1, keepdim=True)
    return torch.matmul(weights, v), weights
