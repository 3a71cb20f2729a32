"""Returns multinomial's (N, 1) result without removing the trailing axis."""
# exercise: sample_next_token
# verdict: wrong
def sample_next_token(logits, temperature=1.0, generator=None):
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = softmax_with_temperature(logits, temperature)
    if probs.dim() == 1:
        return torch.multinomial(probs, 1, generator=generator)
    return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).reshape(*logits.shape[:-1], 1)
