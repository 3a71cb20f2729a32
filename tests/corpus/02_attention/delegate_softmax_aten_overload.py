"""Calls the torch.ops.aten._softmax.default overload."""
# exercise: softmax
# verdict: delegates
def softmax(x, dim=-1):
    return torch.ops.aten._softmax.default(x, dim, False)
