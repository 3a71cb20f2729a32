"""exp(x - logsumexp(x)) along dim."""
# exercise: softmax
# verdict: correct
def softmax(x, dim=-1):
    return torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True))
