"""Subtracts the maximum of the whole tensor instead of each row's maximum."""
# exercise: softmax
# verdict: wrong
def softmax(x, dim=-1):
    e = torch.exp(x - x.max())
    return e / e.sum(dim=dim, keepdim=True)
