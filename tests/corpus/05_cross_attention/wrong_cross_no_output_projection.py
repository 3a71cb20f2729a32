"""Merges the heads but forgets the output projection w_o."""
# exercise: cross_attention
# verdict: wrong
def cross_attention(decoder_x, encoder_out, mha, src_mask=None):
    q = split_heads(mha.w_q(decoder_x), mha.num_heads)
    k = split_heads(mha.w_k(encoder_out), mha.num_heads)
    v = split_heads(mha.w_v(encoder_out), mha.num_heads)
    if src_mask is not None:
        src_mask = src_mask.unsqueeze(-3)
    out, weights = scaled_dot_product_attention(q, k, v, src_mask)
    return merge_heads(out), weights
