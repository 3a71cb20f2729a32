"""Two Python loops with math.sin/math.cos, built as nested lists, with a warnings.warn for long sequences."""
# exercise: sinusoidal_positional_encoding
# verdict: correct
import warnings
def sinusoidal_positional_encoding(seq_len, d_model):
    if d_model % 2 != 0:
        raise ValueError(f"sinusoidal_positional_encoding needs an even d_model, got {d_model}")
    if seq_len > 10_000:
        warnings.warn("very long sequence")
    rows = []
    for p in range(seq_len):
        row = []
        for i in range(d_model // 2):
            angle = p / 10000 ** (2 * i / d_model)
            row += [math.sin(angle), math.cos(angle)]
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float32).reshape(seq_len, d_model)
