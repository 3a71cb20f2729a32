"""Loops over the heads, slicing the projected features, computes in float64 and casts back; finfo.min for masks."""
# exercise: multi_head_attention
# verdict: correct
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError("num_heads must divide d_model")
        self.num_heads, self.d_head = num_heads, d_model // num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def forward(self, query, key, value, mask=None):
        q, k, v = self.w_q(query).double(), self.w_k(key).double(), self.w_v(value).double()
        outs = []
        for h in range(self.num_heads):
            cols = slice(h * self.d_head, (h + 1) * self.d_head)
            scores = q[..., cols] @ k[..., cols].transpose(1, 2) / math.sqrt(self.d_head)   # (B, T_q, T_k)
            if mask is not None:
                scores = scores.masked_fill(~mask, torch.finfo(torch.float64).min)
            weights = torch.softmax(scores, dim=-1)
            outs.append(weights @ v[..., cols])
        merged = torch.cat(outs, dim=-1).to(query.dtype)
        print("heads:", self.num_heads)
        return self.w_o(merged)
