"""Compares the indices with < instead of <=."""
# exercise: causal_mask
# verdict: wrong
def causal_mask(seq_len):
    i = torch.arange(seq_len).unsqueeze(1)
    j = torch.arange(seq_len).unsqueeze(0)
    return j < i
