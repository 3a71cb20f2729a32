"""Adds a causal (lower-triangular) mask over (T, S) on top of the source padding mask."""
# exercise: cross_attention
# verdict: wrong
def cross_attention(decoder_x, encoder_out, mha, src_mask=None):
    T, S = decoder_x.shape[1], encoder_out.shape[1]
    mask = torch.ones(T, S, dtype=torch.bool).tril()
    if src_mask is not None:
        mask = mask & src_mask
    q = split_heads(mha.w_q(decoder_x), mha.num_heads)
    k = split_heads(mha.w_k(encoder_out), mha.num_heads)
    v = split_heads(mha.w_v(encoder_out), mha.num_heads)
    out, weights = scaled_dot_product_attention(q, k, v, mask.unsqueeze(-3))
    return mha.w_o(merge_heads(out)), weights
