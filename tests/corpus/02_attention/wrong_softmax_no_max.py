"""The literal formula exp(x) / sum exp(x), without subtracting the maximum."""
# exercise: softmax
# verdict: wrong
def softmax(x, dim=-1):
    e = torch.exp(x)
    return e / e.sum(dim=dim, keepdim=True)
