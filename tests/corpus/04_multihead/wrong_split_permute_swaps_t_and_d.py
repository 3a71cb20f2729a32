"""Permutes to (B, H, d_head, T): the positions and the features of each head are swapped."""
# exercise: split_heads
# verdict: wrong
def split_heads(x, num_heads):
    B, T, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError(f"num_heads={num_heads} must divide d_model={d_model}")
    return x.view(B, T, num_heads, d_model // num_heads).permute(0, 2, 3, 1)
