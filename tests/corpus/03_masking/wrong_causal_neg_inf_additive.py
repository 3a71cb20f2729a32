"""Returns an additive float mask (0 and -inf) in the style of nn.Transformer instead of a boolean one."""
# exercise: causal_mask
# verdict: wrong
def causal_mask(seq_len):
    return torch.triu(torch.full((seq_len, seq_len), float("-inf")), diagonal=1)
