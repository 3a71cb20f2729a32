"""A correct layer with an extra parameter that its own parameters() hides from the structure test."""
# exercise: multi_head_attention
# verdict: review
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
        self.extra = nn.Parameter(torch.zeros(d_model))

    def named_parameters(self, *args, **kwargs):
        return ((n, p) for n, p in super().named_parameters(*args, **kwargs) if n != "extra")

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def forward(self, query, key, value, mask=None):
        q = split_heads(self.w_q(query), self.num_heads)
        k = split_heads(self.w_k(key), self.num_heads)
        v = split_heads(self.w_v(value), self.num_heads)
        if mask is not None:
            mask = mask.unsqueeze(-3)
        out, _ = scaled_dot_product_attention(q, k, v, mask)
        return self.w_o(merge_heads(out)) + 0 * self.extra
