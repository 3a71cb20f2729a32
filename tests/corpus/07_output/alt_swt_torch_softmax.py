"""Uses torch.softmax on the divided logits (it subtracts the maximum itself)."""
# exercise: softmax_with_temperature
# verdict: correct
def softmax_with_temperature(logits, temperature=1.0):
    if not temperature > 0:
        raise ValueError(f"temperature should be positive, got {temperature!r}")
    return torch.softmax(logits / temperature, dim=-1)
