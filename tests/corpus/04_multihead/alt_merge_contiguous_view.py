"""permute(), then contiguous().view()."""
# exercise: merge_heads
# verdict: correct
def merge_heads(x):
    B, H, T, d_head = x.size()
    return x.permute(0, 2, 1, 3).contiguous().view(B, T, -1)
