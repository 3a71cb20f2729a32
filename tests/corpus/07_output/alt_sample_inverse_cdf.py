"""Inverse-CDF sampling: one uniform number per row from the generator, then searchsorted on the cumulative sum."""
# exercise: sample_next_token
# verdict: correct
def sample_next_token(logits, temperature=1.0, generator=None):
    if temperature < 0:
        raise ValueError(f"temperature must not be negative: {temperature}")
    if temperature == 0:
        return torch.argmax(logits, dim=-1)
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    cdf = probs.cumsum(dim=-1)
    u = torch.rand(*logits.shape[:-1], 1, generator=generator, dtype=torch.float64) * cdf[..., -1:]
    ids = torch.searchsorted(cdf.contiguous(), u.contiguous(), right=True).squeeze(-1)
    return ids.clamp(max=logits.shape[-1] - 1).long()
