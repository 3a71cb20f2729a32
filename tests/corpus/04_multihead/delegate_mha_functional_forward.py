"""Hands the whole computation to torch.nn.functional.multi_head_attention_forward with its own weights."""
# exercise: multi_head_attention
# verdict: delegates
import torch.nn.functional as F
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
        if mask is not None and mask.dim() == 3:
            mask = mask.expand(-1, query.shape[1], -1).repeat_interleave(self.num_heads, dim=0)
        out, _ = F.multi_head_attention_forward(
            query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1), d_model, self.num_heads,
            None, None, None, None, False, 0.0, self.w_o.weight, self.w_o.bias,
            need_weights=False, attn_mask=None if mask is None else ~mask, use_separate_proj_weight=True,
            q_proj_weight=self.w_q.weight, k_proj_weight=self.w_k.weight, v_proj_weight=self.w_v.weight,
            in_proj_bias=torch.cat([self.w_q.bias, self.w_k.bias, self.w_v.bias]))
        return out.transpose(0, 1)
