"""Views the features as (d_head, H), so head h gets every H-th feature instead of a consecutive block."""
# exercise: split_heads
# verdict: wrong
def split_heads(x, num_heads):
    B, T, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError(f"num_heads={num_heads} must divide d_model={d_model}")
    return x.view(B, T, d_model // num_heads, num_heads).permute(0, 3, 1, 2)
