"""Concatenates correctly but returns float32 whatever the input's dtype."""
# exercise: merge_heads
# verdict: wrong
def merge_heads(x):
    B, H, T, d_head = x.shape
    return x.transpose(1, 2).reshape(B, T, H * d_head).to(torch.float32)
