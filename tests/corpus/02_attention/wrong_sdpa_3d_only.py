"""Uses torch.bmm and transpose(1, 2), which only work for exactly one batch dimension."""
# exercise: scaled_dot_product_attention
# verdict: wrong
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = torch.bmm(q, k.transpose(1, 2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return torch.bmm(weights, v), weights
