"""Reshapes (B, H, T, d_head) straight to (B, T, H*d_head) without moving the head axis back."""
# exercise: merge_heads
# verdict: wrong
def merge_heads(x):
    B, H, T, d_head = x.shape
    return x.reshape(B, T, H * d_head)
