"""Inlines the head split and merge as plain reshapes without transposes (positions mixed up)."""
# exercise: multi_head_attention
# verdict: wrong
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"num_heads={num_heads} must divide d_model={d_model}")
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def forward(self, query, key, value, mask=None):
        B, T_q, d_model = query.shape
        T_k = key.shape[1]
        H, d_head = self.num_heads, self.d_head
        q = self.w_q(query).reshape(B, H, T_q, d_head)
        k = self.w_k(key).reshape(B, H, T_k, d_head)
        v = self.w_v(value).reshape(B, H, T_k, d_head)
        if mask is not None:
            mask = mask.unsqueeze(-3)
        out, _ = scaled_dot_product_attention(q, k, v, mask)
        return self.w_o(out.reshape(B, T_q, d_model))
