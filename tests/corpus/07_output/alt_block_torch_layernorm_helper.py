"""Uses nn.LayerNorm, a small Add & Norm helper, and torch.logical_and with a tril mask built inline."""
# exercise: decoder_block
# verdict: correct
class DecoderBlock(nn.Module):
    def __init__(self, d_model, num_heads, d_ff):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.cross_attn = MultiHeadAttention(d_model, num_heads)
        self.feed_forward = FeedForward(d_model, d_ff)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)

    @staticmethod
    def add_norm(x, out, norm):
        return norm(x + out)

    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        T = x.size(1)
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device))
        if tgt_mask is not None:
            mask = torch.logical_and(mask, tgt_mask)
        h = self.add_norm(x, self.self_attn(x, x, x, mask), self.norm1)
        h = self.add_norm(h, self.cross_attn(h, memory, memory, memory_mask), self.norm2)
        return self.add_norm(h, self.feed_forward(h), self.norm3)
