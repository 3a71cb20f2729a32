"""Runs code the text does not show with %run (here a file that does not exist)."""
# exercise: softmax
# verdict: review
%run -i softmax_helpers.py
def softmax(x, dim=-1):
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)
