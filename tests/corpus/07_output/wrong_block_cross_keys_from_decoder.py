"""Cross attention takes its keys from the decoder and only its values from memory."""
# exercise: decoder_block
# verdict: wrong
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
        self_mask = causal_mask(x.shape[1])
        if tgt_mask is not None:
            self_mask = self_mask & tgt_mask
        x = self.norm1(x + self.self_attn(x, x, x, self_mask))
        x = self.norm2(x + self.cross_attn(x, x, memory, memory_mask))
        return self.norm3(x + self.feed_forward(x))
