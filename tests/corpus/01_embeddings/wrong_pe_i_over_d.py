"""Uses 10000^(i/d_model) with the pair index i, forgetting the factor 2 in the exponent."""
# exercise: sinusoidal_positional_encoding
# verdict: wrong
def sinusoidal_positional_encoding(seq_len, d_model):
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    pe = torch.zeros(seq_len, d_model)
    for p in range(seq_len):
        for i in range(d_model // 2):
            angle = p / 10000 ** (i / d_model)
            pe[p, 2 * i] = math.sin(angle)
            pe[p, 2 * i + 1] = math.cos(angle)
    return pe
