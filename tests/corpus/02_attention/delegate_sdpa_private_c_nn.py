"""Calls torch._C._nn.scaled_dot_product_attention, the private entry point."""
# exercise: scaled_dot_product_attention
# verdict: delegates
def scaled_dot_product_attention(q, k, v, mask=None):
    out = torch._C._nn.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out, softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
