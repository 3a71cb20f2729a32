"""Reshapes (B, T, d_model) straight to (B, H, T, d_head) without a transpose, mixing up the positions."""
# exercise: split_heads
# verdict: wrong
def split_heads(x, num_heads):
    B, T, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError(f"num_heads={num_heads} must divide d_model={d_model}")
    return x.reshape(B, num_heads, T, d_model // num_heads)
