"""Runs the generation loop under torch.inference_mode() instead of torch.no_grad() (the text allows either)."""
# exercise: generate
# verdict: correct
def generate(model, prompt_ids, max_new_tokens, temperature=1.0, generator=None, context_len=None):
    ids = prompt_ids
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            context = ids if context_len is None else ids[:, -context_len:]
            next_id = sample_next_token(model(context)[:, -1], temperature, generator)
            ids = torch.cat([ids, next_id.unsqueeze(1)], dim=1)
    return ids
