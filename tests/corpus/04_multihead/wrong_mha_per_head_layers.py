"""Gives every head its own small nn.Linear layers instead of the four d_model x d_model projections."""
# exercise: multi_head_attention
# verdict: wrong
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"num_heads={num_heads} must divide d_model={d_model}")
        d_head = d_model // num_heads
        self.heads_q = nn.ModuleList(nn.Linear(d_model, d_head) for _ in range(num_heads))
        self.heads_k = nn.ModuleList(nn.Linear(d_model, d_head) for _ in range(num_heads))
        self.heads_v = nn.ModuleList(nn.Linear(d_model, d_head) for _ in range(num_heads))
        self.w_o = nn.Linear(d_model, d_model)

    def forward(self, query, key, value, mask=None):
        outs = []
        for wq, wk, wv in zip(self.heads_q, self.heads_k, self.heads_v):
            out, _ = scaled_dot_product_attention(wq(query), wk(key), wv(value), mask)
            outs.append(out)
        return self.w_o(torch.cat(outs, dim=-1))
