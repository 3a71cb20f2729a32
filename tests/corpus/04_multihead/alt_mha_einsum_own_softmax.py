"""Own attention with einsum, torch.where and -inf, heads split with einsum-friendly unflatten; no helpers used."""
# exercise: multi_head_attention
# verdict: correct
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) is not divisible by num_heads ({num_heads})")
        self.h = num_heads
        self.w_q, self.w_k = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.w_v, self.w_o = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)

    def forward(self, query, key, value, mask=None):
        d_model = query.shape[-1]
        q = self.w_q(query).unflatten(-1, (self.h, -1))   # (B, T_q, H, d_head)
        k = self.w_k(key).unflatten(-1, (self.h, -1))     # (B, T_k, H, d_head)
        v = self.w_v(value).unflatten(-1, (self.h, -1))
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / (d_model // self.h) ** 0.5
        if mask is not None:
            m = mask if mask.dim() == 2 else mask[:, None]
            scores = torch.where(m, scores, torch.tensor(float("-inf"), dtype=scores.dtype))
        weights = torch.softmax(scores, dim=-1)
        out = torch.einsum("bhqk,bkhd->bqhd", weights, v).flatten(-2)
        return self.w_o(out)
