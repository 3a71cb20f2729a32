"""Raises the probabilities to the power 1/T without renormalising them."""
# exercise: softmax_with_temperature
# verdict: wrong
def softmax_with_temperature(logits, temperature=1.0):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    return torch.softmax(logits, dim=-1) ** (1.0 / temperature)
