"""Swaps the roles: the encoder output asks (queries) and the decoder answers (keys and values)."""
# exercise: cross_attention
# verdict: wrong
def cross_attention(decoder_x, encoder_out, mha, src_mask=None):
    q = split_heads(mha.w_q(encoder_out), mha.num_heads)
    k = split_heads(mha.w_k(decoder_x), mha.num_heads)
    v = split_heads(mha.w_v(decoder_x), mha.num_heads)
    out, weights = scaled_dot_product_attention(q, k, v)
    return mha.w_o(merge_heads(out)), weights
