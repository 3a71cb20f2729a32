"""Generates max_new_tokens - 1 tokens."""
# exercise: generate
# verdict: wrong
def generate(model, prompt_ids, max_new_tokens, temperature=1.0, generator=None, context_len=None):
    ids = prompt_ids
    with torch.no_grad():
        for _ in range(max_new_tokens - 1):
            context = ids if context_len is None else ids[:, -context_len:]
            logits = model(context)[:, -1]
            next_id = sample_next_token(logits, temperature, generator)
            ids = torch.cat([ids, next_id.unsqueeze(1)], dim=1)
    return ids
