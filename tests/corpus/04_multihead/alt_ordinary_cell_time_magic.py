"""Our solution, and runs the whole cell under %%time: ordinary Python never costs a point."""
# exercise: split_heads
# verdict: correct
%%time
def split_heads(x, num_heads):
    """Cut the features of every position into num_heads heads of width d_head = d_model // num_heads.

    x:         (B, T, d_model), float32 or float64
    num_heads: H, must divide d_model (otherwise ValueError naming num_heads)
    returns    (B, H, T, d_head) with x's dtype; head h holds features h*d_head:(h+1)*d_head
    """
    B, T, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError(f"num_heads={num_heads} must divide d_model={d_model} so that every head gets d_model // num_heads features")
    d_head = d_model // num_heads
    x = x.reshape(B, T, num_heads, d_head)   # (B, T, H, d_head): each position's features cut into H blocks
    return x.transpose(1, 2)                 # (B, H, T, d_head): heads in front of the positions
