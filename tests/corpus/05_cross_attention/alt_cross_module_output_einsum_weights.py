"""Takes the output from mha(...) and computes the weights separately with einsum, torch.where and -inf."""
# exercise: cross_attention
# verdict: correct
def cross_attention(decoder_x, encoder_out, mha, src_mask=None):
    out = mha(decoder_x, encoder_out, encoder_out, src_mask)
    H = mha.num_heads
    q = mha.w_q(decoder_x).unflatten(-1, (H, -1))       # (B, T, H, d_head)
    k = mha.w_k(encoder_out).unflatten(-1, (H, -1))     # (B, S, H, d_head)
    scores = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(q.shape[-1])
    if src_mask is not None:
        scores = torch.where(src_mask[:, None], scores, torch.tensor(float("-inf"), dtype=scores.dtype))
    return out, torch.softmax(scores, dim=-1)
