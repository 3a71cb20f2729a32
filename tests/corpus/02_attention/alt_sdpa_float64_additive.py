"""Works in float64 with an additive -1e9 mask, casts back to the input dtype, and prints the shapes."""
# exercise: scaled_dot_product_attention
# verdict: correct
def scaled_dot_product_attention(q, k, v, mask=None):
    q64, k64, v64 = q.double(), k.double(), v.double()
    scores = q64 @ k64.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + (~mask).double() * -1e9
    weights = softmax(scores)
    print("attention", tuple(q.shape), "->", tuple(weights.shape))
    return (weights @ v64).to(q.dtype), weights.to(q.dtype)
