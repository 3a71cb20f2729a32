"""Cuts the features into heads but returns (B, T, H, d_head), forgetting to move the head axis forward."""
# exercise: split_heads
# verdict: wrong
def split_heads(x, num_heads):
    B, T, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError(f"num_heads={num_heads} must divide d_model={d_model}")
    return x.view(B, T, num_heads, d_model // num_heads)
