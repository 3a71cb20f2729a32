"""Fills a boolean tensor with two Python loops and prints its size."""
# exercise: causal_mask
# verdict: correct
def causal_mask(seq_len):
    mask = torch.zeros(seq_len, seq_len, dtype=torch.bool)
    for i in range(seq_len):
        for j in range(i + 1):
            mask[i, j] = True
    print("causal mask of size", seq_len)
    return mask
