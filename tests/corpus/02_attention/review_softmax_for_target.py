"""A correct softmax bound as the target of a top-level for loop, which the grader cannot follow."""
# exercise: softmax
# verdict: review
def _stable(x, dim=-1):
    z = x - x.amax(dim=dim, keepdim=True)
    e = torch.exp(z)
    return e / e.sum(dim=dim, keepdim=True)
for softmax in [_stable]:
    pass
