"""Our solution, and runs a statement under torch.no_grad(): ordinary Python never costs a point."""
# exercise: sinusoidal_positional_encoding
# verdict: correct
with torch.no_grad():
    _probe = torch.zeros(1)
def sinusoidal_positional_encoding(seq_len, d_model):
    """The fixed sine/cosine position signal of "Attention Is All You Need".

    seq_len: number of positions T; positions are p = 0, 1, ..., seq_len - 1
    d_model: width of the embeddings; must be even, otherwise ValueError naming d_model
    returns (seq_len, d_model) float32 with
        PE[p, 2i]   = sin(p / 10000^(2i / d_model))
        PE[p, 2i+1] = cos(p / 10000^(2i / d_model))
    """
    if d_model % 2 != 0:
        raise ValueError(f"d_model must be even (sin and cos fill pairs of features), got d_model={d_model}")
    position = torch.arange(seq_len, dtype=torch.float64).unsqueeze(1)  # (seq_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (d_model/2,): 0, 2, 4, ...
    angle = position / 10000.0 ** (two_i / d_model)  # (seq_len, d_model/2)
    pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)  # even columns 2i
    pe[:, 1::2] = torch.cos(angle)  # odd columns 2i+1, same frequency as column 2i
    return pe.float()  # computed in float64: p / 10000^(...) keeps its digits for long sequences
