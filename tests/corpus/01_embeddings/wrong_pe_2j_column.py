"""Uses 10000^(2j/d_model) with the column index j where the pair index i = j // 2 belongs."""
# exercise: sinusoidal_positional_encoding
# verdict: wrong
def sinusoidal_positional_encoding(seq_len, d_model):
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    pe = torch.zeros(seq_len, d_model)
    for p in range(seq_len):
        for j in range(d_model):
            angle = p / 10000 ** (2 * j / d_model)
            pe[p, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return pe
