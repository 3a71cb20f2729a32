"""Our solution, and prints sys.getsizeof of a list: ordinary Python never costs a point."""
# exercise: causal_mask
# verdict: correct
import sys
def causal_mask(seq_len):
    """Mask that lets query i attend to keys j <= i only.

    seq_len: T, the number of positions
    returns bool (T, T): mask[i, j] = (j <= i), the lower triangle including the diagonal; True = may attend
    """
    return torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool))  # (T, T)
print(sys.getsizeof([1, 2, 3]))
