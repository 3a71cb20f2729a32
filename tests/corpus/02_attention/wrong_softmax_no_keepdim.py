"""Sums without keepdim=True, so the sums broadcast along the wrong axis."""
# exercise: softmax
# verdict: wrong
def softmax(x, dim=-1):
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim)
