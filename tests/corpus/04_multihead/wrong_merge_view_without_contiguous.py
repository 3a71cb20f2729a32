"""Transposes, then calls view(): fails for fresh tensors such as attention's output."""
# exercise: merge_heads
# verdict: wrong
def merge_heads(x):
    B, H, T, d_head = x.shape
    return x.transpose(1, 2).view(B, T, H * d_head)
