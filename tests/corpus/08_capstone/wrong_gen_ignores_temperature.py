"""Samples at temperature 1 whenever the temperature is not 0."""
# exercise: generate
# verdict: wrong
def generate(model, prompt_ids, max_new_tokens, temperature=1.0, generator=None, context_len=None):
    ids = prompt_ids
    with torch.no_grad():
        for _ in range(max_new_tokens):
            context = ids if context_len is None else ids[:, -context_len:]
            logits = model(context)[:, -1]
            next_id = sample_next_token(logits, 0.0 if temperature == 0 else 1.0, generator)
            ids = torch.cat([ids, next_id.unsqueeze(1)], dim=1)
    return ids
