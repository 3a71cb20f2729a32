"""torch's ready-made causal mask (nn.Transformer.generate_square_subsequent_mask, -inf above the diagonal), turned into booleans."""
# exercise: causal_mask
# verdict: delegates
def causal_mask(seq_len):
    return torch.nn.Transformer.generate_square_subsequent_mask(seq_len) == 0
