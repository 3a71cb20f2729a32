"""Calls softmax through torch._C._VariableFunctions."""
# exercise: softmax
# verdict: delegates
def softmax(x, dim=-1):
    return torch._C._VariableFunctions.softmax(x, dim)
