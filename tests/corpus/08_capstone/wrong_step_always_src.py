"""Always calls model(src, tgt_in), so the decoder-only form (src=None) fails."""
# exercise: train_step
# verdict: wrong
def train_step(model, optimizer, src, tgt_in, tgt_out, pad_id):
    logits = model(src, tgt_in)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad_id)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
