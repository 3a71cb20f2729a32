"""unflatten() + permute(), returns a contiguous copy, and prints on every call."""
# exercise: split_heads
# verdict: correct
def split_heads(x, num_heads):
    d_model = x.shape[-1]
    if num_heads <= 0 or d_model % num_heads != 0:
        raise ValueError(f"bad num_heads: {num_heads} for d_model {d_model}")
    print("split_heads", tuple(x.shape), "into", num_heads, "heads")
    return x.unflatten(-1, (num_heads, d_model // num_heads)).permute(0, 2, 1, 3).contiguous()
