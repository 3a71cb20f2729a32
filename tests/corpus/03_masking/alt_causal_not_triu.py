"""Negates the strict upper triangle: ~triu(ones, 1)."""
# exercise: causal_mask
# verdict: correct
def causal_mask(seq_len):
    return ~torch.ones(seq_len, seq_len, dtype=torch.bool).triu(1)
