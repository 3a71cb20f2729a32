"""Our solution, and sets numpy's print options: ordinary Python never costs a point."""
# exercise: decoder_block
# verdict: correct
import numpy as np
np.set_printoptions(precision=3)
class DecoderBlock(nn.Module):
    """Masked self-attention, cross attention over the encoder output, feed-forward; each in post-norm Add & Norm.

    Attributes: self_attn, cross_attn = MultiHeadAttention(d_model, num_heads); feed_forward = FeedForward(d_model, d_ff);
                norm1, norm2, norm3 = LayerNorm(d_model).
    forward(x (B, T, d_model), memory (B, S, d_model), tgt_mask=None, memory_mask=None) -> (B, T, d_model)
        tgt_mask:    optional bool broadcastable to (B, T, T), combined with the causal mask (always applied)
        memory_mask: optional bool broadcastable to (B, T, S), e.g. the source padding mask (B, 1, S)
    """

    def __init__(self, d_model, num_heads, d_ff):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.cross_attn = MultiHeadAttention(d_model, num_heads)
        self.feed_forward = FeedForward(d_model, d_ff)
        self.norm1 = LayerNorm(d_model)
        self.norm2 = LayerNorm(d_model)
        self.norm3 = LayerNorm(d_model)

    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        self_mask = causal_mask(x.shape[1]).to(x.device)                       # (T, T): no peeking at later targets
        if tgt_mask is not None:
            self_mask = self_mask & tgt_mask                                   # (B, T, T)
        x = self.norm1(x + self.self_attn(x, x, x, self_mask))                 # what has been written so far
        x = self.norm2(x + self.cross_attn(x, memory, memory, memory_mask))    # what the source says
        return self.norm3(x + self.feed_forward(x))                            # (B, T, d_model)
