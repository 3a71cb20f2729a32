"""Moves dim to the end, normalises the last axis, and moves it back."""
# exercise: softmax
# verdict: correct
def softmax(x, dim=-1):
    moved = x.movedim(dim, -1)
    shifted = moved - moved.max(-1, keepdim=True)[0]
    e = shifted.exp()
    return (e / e.sum(-1, keepdim=True)).movedim(-1, dim)
