"""Keeps the upper triangle (j >= i): the mask is transposed."""
# exercise: causal_mask
# verdict: wrong
def causal_mask(seq_len):
    return torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool))
