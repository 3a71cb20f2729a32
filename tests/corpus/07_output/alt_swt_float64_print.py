"""Computes in float64 with the maximum subtracted before dividing, casts back, and prints a line."""
# exercise: softmax_with_temperature
# verdict: correct
def softmax_with_temperature(logits, temperature=1.0):
    if temperature <= 0:
        raise ValueError("softmax_with_temperature: temperature <= 0")
    z = logits.double()
    z = (z - z.max(dim=-1, keepdim=True).values) / temperature
    e = z.exp()
    print("temperature", temperature)
    return (e / e.sum(-1, keepdim=True)).to(logits.dtype)
