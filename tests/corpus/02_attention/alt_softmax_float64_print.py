"""Computes in float64 with max(...).values, casts back, and prints a line."""
# exercise: softmax
# verdict: correct
def softmax(x, dim=-1):
    z = x.double()
    z = z - z.max(dim=dim, keepdim=True).values
    e = z.exp()
    print("softmax over dim", dim)
    return (e / e.sum(dim=dim, keepdim=True)).to(x.dtype)
