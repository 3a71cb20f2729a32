"""Loops over the rows in Python and draws each with torch.multinomial on a 1-D probability vector."""
# exercise: sample_next_token
# verdict: correct
def sample_next_token(logits, temperature=1.0, generator=None):
    if temperature < 0:
        raise ValueError("temperature < 0")
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = softmax_with_temperature(logits, temperature)
    rows = probs.reshape(-1, probs.shape[-1])
    out = torch.empty(rows.shape[0], dtype=torch.long)
    for i in range(rows.shape[0]):
        out[i] = torch.multinomial(rows[i], 1, generator=generator)[0]
    return out.reshape(probs.shape[:-1])
