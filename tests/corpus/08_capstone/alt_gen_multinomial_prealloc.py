"""Fills a preallocated output tensor and samples with its own softmax and torch.multinomial."""
# exercise: generate
# verdict: correct
@torch.no_grad()
def generate(model, prompt_ids, max_new_tokens, temperature=1.0, generator=None, context_len=None):
    B, T0 = prompt_ids.shape
    out = torch.empty(B, T0 + max_new_tokens, dtype=torch.long)
    out[:, :T0] = prompt_ids
    for t in range(T0, T0 + max_new_tokens):
        start = 0 if context_len is None else max(0, t - context_len)
        last = model(out[:, start:t])[:, -1, :]                          # (B, V)
        if temperature == 0:
            out[:, t] = last.argmax(dim=-1)
        else:
            probs = torch.softmax(last.double() / temperature, dim=-1)
            out[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return out
