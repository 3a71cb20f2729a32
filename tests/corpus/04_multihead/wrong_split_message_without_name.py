"""Raises ValueError for a bad head count, but the message does not name num_heads."""
# exercise: split_heads
# verdict: wrong
def split_heads(x, num_heads):
    B, T, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError("the heads do not fit")
    return x.reshape(B, T, num_heads, d_model // num_heads).transpose(1, 2)
