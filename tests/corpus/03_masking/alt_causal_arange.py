"""Compares a column of query indices with a row of key indices."""
# exercise: causal_mask
# verdict: correct
def causal_mask(seq_len):
    i = torch.arange(seq_len)[:, None]  # query
    j = torch.arange(seq_len)[None, :]  # key
    return j <= i
