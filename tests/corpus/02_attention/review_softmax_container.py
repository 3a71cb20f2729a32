"""A correct softmax looked up in a module-level table that the notebook fills later."""
# exercise: softmax
# verdict: review
_IMPL = {}
def softmax(x, dim=-1):
    return _IMPL["f"](x, dim)
def _stable(x, dim=-1):
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)
_IMPL["f"] = _stable
