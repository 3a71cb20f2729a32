"""The reference recipe with the forward pass under its own name and a progress print."""
# exercise: train_step
# verdict: correct
def train_step(model, optimizer, src, tgt_in, tgt_out, pad_id):
    inputs = (tgt_in,) if src is None else (src, tgt_in)
    logits = model(*inputs)
    B, T, V = logits.shape
    loss = F.cross_entropy(logits.view(B * T, V), tgt_out.contiguous().view(B * T), ignore_index=pad_id, reduction="mean")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    value = loss.item()
    print(f"loss {value:.4f}")
    return value
