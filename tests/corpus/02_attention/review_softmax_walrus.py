"""A correct softmax bound by := at the top level."""
# exercise: softmax
# verdict: review
if (softmax := (lambda x, dim=-1: torch.exp(x - x.amax(dim=dim, keepdim=True)) / torch.exp(x - x.amax(dim=dim, keepdim=True)).sum(dim=dim, keepdim=True))):
    pass
