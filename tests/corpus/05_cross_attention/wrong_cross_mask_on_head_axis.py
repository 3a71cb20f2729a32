"""Masks the scores with the (B, 1, S) source mask as it is, so its batch axis meets the head axis."""
# exercise: cross_attention
# verdict: wrong
def cross_attention(decoder_x, encoder_out, mha, src_mask=None):
    q = split_heads(mha.w_q(decoder_x), mha.num_heads)
    k = split_heads(mha.w_k(encoder_out), mha.num_heads)
    v = split_heads(mha.w_v(encoder_out), mha.num_heads)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if src_mask is not None:
        scores = scores.masked_fill(~src_mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return mha.w_o(merge_heads(weights @ v)), weights
