"""Gumbel-max sampling with noise from the generator, and a list of tensors joined at the end."""
# exercise: generate
# verdict: correct
def generate(model, prompt_ids, max_new_tokens, temperature=1.0, generator=None, context_len=None):
    pieces = [prompt_ids]
    seq = prompt_ids
    for _ in range(max_new_tokens):
        window = seq if context_len is None else seq[:, max(0, seq.shape[1] - context_len):]
        with torch.no_grad():
            z = model(window)[:, -1].double()
        if temperature == 0:
            nxt = z.argmax(-1)
        else:
            u = torch.rand(z.shape, generator=generator, dtype=torch.float64).clamp_min(1e-300)
            nxt = torch.argmax(z / temperature - torch.log(-torch.log(u)), dim=-1)
        pieces.append(nxt[:, None])
        seq = torch.cat(pieces, dim=1)
    return seq
