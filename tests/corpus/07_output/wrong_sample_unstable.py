"""Exponentiates logits / T without subtracting the maximum: nan probabilities at small temperatures."""
# exercise: sample_next_token
# verdict: wrong
def sample_next_token(logits, temperature=1.0, generator=None):
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return logits.argmax(dim=-1)
    weights = torch.exp(logits / temperature).reshape(-1, logits.shape[-1])
    return torch.multinomial(weights, 1, generator=generator).reshape(logits.shape[:-1])
