"""Exponentiates logits / T directly, which overflows for small temperatures or large logits."""
# exercise: softmax_with_temperature
# verdict: wrong
def softmax_with_temperature(logits, temperature=1.0):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    weights = torch.exp(logits / temperature)
    return weights / weights.sum(dim=-1, keepdim=True)
