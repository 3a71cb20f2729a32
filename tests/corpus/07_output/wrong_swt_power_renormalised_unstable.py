"""Sharpens softmax probabilities with a power 1/T and renormalises: right for moderate T, 0/0 = nan for small T."""
# exercise: softmax_with_temperature
# verdict: wrong
def softmax_with_temperature(logits, temperature=1.0):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    probs = torch.softmax(logits, dim=-1) ** (1.0 / temperature)
    return probs / probs.sum(dim=-1, keepdim=True)
