"""Returns a float tensor of ones and zeros instead of a boolean mask."""
# exercise: causal_mask
# verdict: wrong
def causal_mask(seq_len):
    return torch.tril(torch.ones(seq_len, seq_len))
