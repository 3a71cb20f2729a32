"""Always normalises over the last axis, whatever dim says."""
# exercise: softmax
# verdict: wrong
def softmax(x, dim=-1):
    e = torch.exp(x - x.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)
