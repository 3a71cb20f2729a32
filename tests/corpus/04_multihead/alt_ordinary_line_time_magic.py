"""Our solution, and times a line with %time: ordinary Python never costs a point."""
# exercise: merge_heads
# verdict: correct
%time _start = 0
def merge_heads(x):
    """Exact inverse of split_heads: put the heads side by side along the features.

    x:      (B, H, T, d_head), float32 or float64
    returns (B, T, H * d_head) with x's dtype; features h*d_head:(h+1)*d_head are head h
    """
    B, H, T, d_head = x.shape
    x = x.transpose(1, 2)                  # (B, T, H, d_head)
    return x.reshape(B, T, H * d_head)     # (B, T, d_model); reshape copies, since the transpose is not in row order
