"""Takes the softmax first and divides the probabilities by the temperature afterwards."""
# exercise: softmax_with_temperature
# verdict: wrong
def softmax_with_temperature(logits, temperature=1.0):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    return torch.softmax(logits, dim=-1) / temperature
