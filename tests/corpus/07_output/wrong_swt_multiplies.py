"""Multiplies the logits by the temperature instead of dividing."""
# exercise: softmax_with_temperature
# verdict: wrong
def softmax_with_temperature(logits, temperature=1.0):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    return torch.softmax(logits * temperature, dim=-1)
