"""Gumbel-max: argmax of logits / T plus Gumbel noise drawn from the generator."""
# exercise: sample_next_token
# verdict: correct
def sample_next_token(logits, temperature=1.0, generator=None):
    if temperature < 0:
        raise ValueError("a negative temperature is not allowed")
    if temperature == 0:
        return logits.argmax(-1)
    u = torch.rand(logits.shape, generator=generator, dtype=torch.float64).clamp_min(1e-300)
    gumbel = -torch.log(-torch.log(u))
    return torch.argmax(logits.double() / temperature + gumbel, dim=-1)
