"""Transposes the keys with k.t(), which only works without batch dimensions."""
# exercise: scaled_dot_product_attention
# verdict: wrong
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.t() / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
