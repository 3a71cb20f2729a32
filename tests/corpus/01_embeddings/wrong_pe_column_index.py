"""Gives every column j its own frequency 10000^(j/d_model) instead of sharing 10000^(2i/d_model) within a pair."""
# exercise: sinusoidal_positional_encoding
# verdict: wrong
def sinusoidal_positional_encoding(seq_len, d_model):
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    position = torch.arange(seq_len, dtype=torch.float64)[:, None]
    angle = position / 10000 ** (torch.arange(d_model, dtype=torch.float64) / d_model)  # (T, d_model)
    pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle[:, 0::2])
    pe[:, 1::2] = torch.cos(angle[:, 1::2])
    return pe.float()
