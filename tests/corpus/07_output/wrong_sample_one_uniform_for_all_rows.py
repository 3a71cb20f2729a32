"""Inverse-CDF sampling that draws a single uniform number and reuses it for every row."""
# exercise: sample_next_token
# verdict: wrong
def sample_next_token(logits, temperature=1.0, generator=None):
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = softmax_with_temperature(logits, temperature)
    u = torch.rand(1, generator=generator, dtype=probs.dtype)
    cdf = probs.cumsum(dim=-1)
    return (cdf < u).sum(dim=-1).clamp(max=probs.shape[-1] - 1)
