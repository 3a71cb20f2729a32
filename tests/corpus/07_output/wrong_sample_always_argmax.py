"""Always returns the argmax, even for positive temperatures."""
# exercise: sample_next_token
# verdict: wrong
def sample_next_token(logits, temperature=1.0, generator=None):
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    return logits.argmax(dim=-1)
