"""Masks after the softmax and renormalises: exact in theory, but 0/0 = NaN when the masked keys have the largest scores."""
# exercise: scaled_dot_product_attention
# verdict: wrong
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights * mask
        weights = weights / weights.sum(dim=-1, keepdim=True)
    return weights @ v, weights
