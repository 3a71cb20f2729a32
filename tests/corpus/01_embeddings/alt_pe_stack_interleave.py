"""Interleaves by stacking sin and cos on a new last axis and flattening the pairs."""
# exercise: sinusoidal_positional_encoding
# verdict: correct
def sinusoidal_positional_encoding(seq_len, d_model):
    if d_model % 2:
        raise ValueError(f"d_model={d_model} is odd")
    p = torch.arange(seq_len, dtype=torch.float64)
    omega = 10000.0 ** (-torch.arange(d_model // 2, dtype=torch.float64) * 2 / d_model)
    angle = torch.outer(p, omega)  # (T, d_model/2)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(seq_len, d_model).to(torch.float32)
