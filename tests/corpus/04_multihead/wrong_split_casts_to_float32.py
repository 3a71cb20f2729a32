"""Converts the input to float32, so float64 input comes back as float32."""
# exercise: split_heads
# verdict: wrong
def split_heads(x, num_heads):
    B, T, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError(f"num_heads={num_heads} must divide d_model={d_model}")
    return x.float().reshape(B, T, num_heads, d_model // num_heads).transpose(1, 2)
