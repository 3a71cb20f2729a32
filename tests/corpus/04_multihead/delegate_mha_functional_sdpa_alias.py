"""Splits the heads itself but hands attention to torch's fused kernel under an alias."""
# exercise: multi_head_attention
# verdict: delegates
from torch.nn.functional import scaled_dot_product_attention as fused_attention
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"num_heads={num_heads} must divide d_model={d_model}")
        self.num_heads = num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def forward(self, query, key, value, mask=None):
        q = split_heads(self.w_q(query), self.num_heads)
        k = split_heads(self.w_k(key), self.num_heads)
        v = split_heads(self.w_v(value), self.num_heads)
        if mask is not None:
            mask = mask.unsqueeze(-3)
        return self.w_o(merge_heads(fused_attention(q, k, v, attn_mask=mask)))
