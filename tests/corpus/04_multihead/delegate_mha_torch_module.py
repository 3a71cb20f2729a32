"""Wraps torch.nn.MultiheadAttention and copies w_q, w_k, w_v, w_o into it on every call."""
# exercise: multi_head_attention
# verdict: delegates
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
        d_model = query.shape[-1]
        attn = nn.MultiheadAttention(d_model, self.num_heads, batch_first=True).to(query.dtype)
        with torch.no_grad():
            attn.in_proj_weight.copy_(torch.cat([self.w_q.weight, self.w_k.weight, self.w_v.weight]))
            attn.in_proj_bias.copy_(torch.cat([self.w_q.bias, self.w_k.bias, self.w_v.bias]))
            attn.out_proj.weight.copy_(self.w_o.weight)
            attn.out_proj.bias.copy_(self.w_o.bias)
        if mask is not None and mask.dim() == 3:
            mask = mask.expand(-1, query.shape[1], -1).repeat_interleave(self.num_heads, dim=0)
        out, _ = attn(query, key, value, attn_mask=None if mask is None else ~mask, need_weights=False)
        return out
