"""Copies a cross_attention function over from notebook 05, calls it for the second sublayer and prints the weights' shape."""
# exercise: decoder_block
# verdict: correct
def cross_attention(decoder_x, encoder_out, mha, src_mask=None):
    B, T, d_model = decoder_x.shape
    S, H = encoder_out.shape[1], mha.num_heads
    q = mha.w_q(decoder_x).view(B, T, H, d_model // H).transpose(1, 2)      # (B, H, T, d_head)
    k = mha.w_k(encoder_out).view(B, S, H, d_model // H).transpose(1, 2)    # (B, H, S, d_head)
    v = mha.w_v(encoder_out).view(B, S, H, d_model // H).transpose(1, 2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_model // H)               # (B, H, T, S)
    if src_mask is not None:
        scores = scores.masked_fill(~src_mask.unsqueeze(1), float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(B, T, d_model)
    return mha.w_o(out), weights


class DecoderBlock(nn.Module):
    def __init__(self, d_model, num_heads, d_ff):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.cross_attn = MultiHeadAttention(d_model, num_heads)
        self.feed_forward = FeedForward(d_model, d_ff)
        self.norm1 = LayerNorm(d_model)
        self.norm2 = LayerNorm(d_model)
        self.norm3 = LayerNorm(d_model)

    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        causal = causal_mask(x.shape[1])
        self_mask = causal if tgt_mask is None else torch.where(causal, tgt_mask, False)
        x = self.norm1(x + self.self_attn(x, x, x, self_mask))
        attended, weights = cross_attention(x, memory, self.cross_attn, memory_mask)
        print("cross-attention weights:", tuple(weights.shape))
        x = self.norm2(x + attended)
        return self.norm3(x + self.feed_forward(x))
