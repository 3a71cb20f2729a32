"""Adds the heads together instead of concatenating them."""
# exercise: merge_heads
# verdict: wrong
def merge_heads(x):
    return x.sum(dim=1)
