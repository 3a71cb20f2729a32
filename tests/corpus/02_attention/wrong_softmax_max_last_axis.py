"""Takes the maximum over the last axis but sums along dim."""
# exercise: softmax
# verdict: wrong
def softmax(x, dim=-1):
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=dim, keepdim=True)
