"""Our solution, and calls gc.collect(): ordinary Python never costs a point."""
# exercise: cross_attention
# verdict: correct
import gc
def cross_attention(decoder_x, encoder_out, mha, src_mask=None):
    """Decoder positions attend over the encoder output: queries from the decoder, keys and values from the encoder.

    decoder_x:   (B, T, d_model) the decoder's positions (they ask)
    encoder_out: (B, S, d_model) the encoder output (it answers)
    mha:         multi-head attention module with w_q, w_k, w_v, w_o and num_heads
    src_mask:    bool, True = may attend, broadcastable to (B, T, S); usually the source padding mask (B, 1, S).
                 No causal mask: every decoder position may look at every real source position.
    returns (output (B, T, d_model), weights (B, H, T, S)); output equals mha(decoder_x, encoder_out, encoder_out, src_mask)
    """
    q = split_heads(mha.w_q(decoder_x), mha.num_heads)     # (B, H, T, d_head): the decoder asks
    k = split_heads(mha.w_k(encoder_out), mha.num_heads)   # (B, H, S, d_head): the encoder answers ...
    v = split_heads(mha.w_v(encoder_out), mha.num_heads)   # (B, H, S, d_head): ... with its knowledge
    if src_mask is not None:
        src_mask = src_mask.unsqueeze(-3)                  # (B, 1, 1, S): the same mask for every head
    out, weights = scaled_dot_product_attention(q, k, v, src_mask)   # (B, H, T, d_head), (B, H, T, S)
    return mha.w_o(merge_heads(out)), weights
gc.collect()
