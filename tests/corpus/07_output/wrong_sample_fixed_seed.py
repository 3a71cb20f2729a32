"""Makes its own generator with a fixed seed instead of using the one it is given."""
# exercise: sample_next_token
# verdict: wrong
def sample_next_token(logits, temperature=1.0, generator=None):
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return logits.argmax(dim=-1)
    own = torch.Generator().manual_seed(1234)
    probs = softmax_with_temperature(logits, temperature).reshape(-1, logits.shape[-1])
    return torch.multinomial(probs, 1, generator=own).reshape(logits.shape[:-1])
