"""Calls the notebook's cross_attention for the second sublayer and prints the weights' shape."""
# exercise: decoder_block
# verdict: correct
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
