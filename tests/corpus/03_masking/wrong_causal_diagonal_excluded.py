"""Excludes the diagonal (j < i), so a position cannot attend to itself and row 0 is empty."""
# exercise: causal_mask
# verdict: wrong
def causal_mask(seq_len):
    return torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool), diagonal=-1)
