"""Marks the future with True (True = blocked), the opposite convention."""
# exercise: causal_mask
# verdict: wrong
def causal_mask(seq_len):
    return torch.triu(torch.ones(seq_len, seq_len), diagonal=1).bool()
