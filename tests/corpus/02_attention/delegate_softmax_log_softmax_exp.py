"""torch.log_softmax(x, dim).exp(): the same operation by another name (CONTRACT: log-softmax then exp is softmax)."""
# exercise: softmax
# verdict: delegates
def softmax(x, dim=-1):
    return torch.log_softmax(x, dim=dim).exp()
