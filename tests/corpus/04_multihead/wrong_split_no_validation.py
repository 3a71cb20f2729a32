"""Never checks that num_heads divides d_model (integer division silently drops features or view fails)."""
# exercise: split_heads
# verdict: wrong
def split_heads(x, num_heads):
    B, T, d_model = x.shape
    d_head = d_model // num_heads
    return x[..., : num_heads * d_head].reshape(B, T, num_heads, d_head).transpose(1, 2)
