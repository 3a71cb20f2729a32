"""A correct softmax installed through `global` from a helper."""
# exercise: softmax
# verdict: review
def _install():
    global softmax
    def softmax(x, dim=-1):
        e = torch.exp(x - x.amax(dim=dim, keepdim=True))
        return e / e.sum(dim=dim, keepdim=True)
_install()
