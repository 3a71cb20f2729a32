"""Our solution, and runs the whole cell under %%capture: ordinary Python never costs a point."""
# exercise: multi_head_attention
# verdict: correct
%%capture _quiet
class MultiHeadAttention(nn.Module):
    """H attention heads side by side, each on its own d_head-wide slice of the projections.

    Attributes: w_q, w_k, w_v, w_o = nn.Linear(d_model, d_model) with bias; no other parameters.
    forward(query (B, T_q, d_model), key (B, T_k, d_model), value (B, T_k, d_model), mask=None)
        -> (B, T_q, d_model). mask: bool, True = may attend, broadcastable to (B, T_q, T_k), shared by all heads.
    MultiHead(Q, K, V) = Concat(head_1, ..., head_H) W^O, head_h = softmax(Q_h K_h^T / sqrt(d_head)) V_h.
    Raises ValueError naming num_heads if num_heads does not divide d_model.
    """

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
        q = split_heads(self.w_q(query), self.num_heads)    # (B, H, T_q, d_head)
        k = split_heads(self.w_k(key), self.num_heads)      # (B, H, T_k, d_head)
        v = split_heads(self.w_v(value), self.num_heads)    # (B, H, T_k, d_head)
        if mask is not None:
            mask = mask.unsqueeze(-3)                       # (B, 1, T_q, T_k) or (B, 1, 1, T_k): one mask for all heads
        out, _ = scaled_dot_product_attention(q, k, v, mask)   # (B, H, T_q, d_head); divides by sqrt(d_head)
        return self.w_o(merge_heads(out))                   # (B, T_q, d_model)
