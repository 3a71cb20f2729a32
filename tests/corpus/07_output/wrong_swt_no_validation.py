"""Does not reject temperatures <= 0 (returns nan or a reversed distribution)."""
# exercise: softmax_with_temperature
# verdict: wrong
def softmax_with_temperature(logits, temperature=1.0):
    return torch.softmax(logits / temperature, dim=-1)
