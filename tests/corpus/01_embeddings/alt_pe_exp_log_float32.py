"""The Annotated Transformer's float32 formulation with exp(-log(10000) * 2i / d_model)."""
# exercise: sinusoidal_positional_encoding
# verdict: correct
def sinusoidal_positional_encoding(seq_len, d_model):
    if d_model % 2 == 1:
        raise ValueError("odd d_model: " + str(d_model))
    pe = torch.zeros(seq_len, d_model)
    position = torch.arange(0, seq_len).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2) * -(math.log(10000.0) / d_model))
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe
