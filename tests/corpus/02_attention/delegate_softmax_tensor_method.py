"""x.softmax(dim): Tensor.softmax, even though the notebook's own function is also called softmax."""
# exercise: softmax
# verdict: delegates
def softmax(x, dim=-1):
    return x.softmax(dim)
