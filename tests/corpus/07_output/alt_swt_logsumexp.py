"""exp(z - logsumexp(z)) with z = logits / T."""
# exercise: softmax_with_temperature
# verdict: correct
def softmax_with_temperature(logits, temperature=1.0):
    if temperature <= 0:
        raise ValueError("Temperature must be > 0")
    z = torch.div(logits, temperature)
    return torch.exp(z - torch.logsumexp(z, dim=-1, keepdim=True))
