"""Divides the caller's logits in place (logits /= temperature)."""
# exercise: softmax_with_temperature
# verdict: wrong
def softmax_with_temperature(logits, temperature=1.0):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    logits /= temperature
    return torch.softmax(logits, dim=-1)
