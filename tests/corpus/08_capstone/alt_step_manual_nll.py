"""Computes the masked mean of -log_softmax by hand with gather, clears gradients first, prints nothing but a float() return."""
# exercise: train_step
# verdict: correct
def train_step(model, optimizer, src, tgt_in, tgt_out, pad_id):
    optimizer.zero_grad()
    logits = model(tgt_in) if src is None else model(src, tgt_in)       # (B, T, V)
    log_probs = torch.log_softmax(logits, dim=-1)
    picked = log_probs.gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)    # (B, T)
    real = tgt_out != pad_id
    loss = -(picked * real).sum() / real.sum()
    loss.backward()
    optimizer.step()
    return float(loss.detach())
