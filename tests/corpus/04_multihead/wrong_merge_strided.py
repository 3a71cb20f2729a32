"""Interleaves the heads' features (inverse of the strided split) instead of putting the heads side by side."""
# exercise: merge_heads
# verdict: wrong
def merge_heads(x):
    B, H, T, d_head = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, d_head * H)
