"""Cuts the features with chunk() and stacks the blocks on a new head axis."""
# exercise: split_heads
# verdict: correct
def split_heads(x, num_heads):
    if x.shape[-1] % num_heads:
        raise ValueError(f"d_model={x.shape[-1]} is not a multiple of num_heads={num_heads}")
    return torch.stack(x.chunk(num_heads, dim=-1), dim=1)
