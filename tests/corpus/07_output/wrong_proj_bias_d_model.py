"""Gives the bias one entry per model feature (d_model) and adds it before the projection."""
# exercise: output_projection
# verdict: wrong
class OutputProjection(nn.Module):
    def __init__(self, d_model, vocab_size, tied_weight=None):
        super().__init__()
        if tied_weight is None:
            bound = 1 / math.sqrt(d_model)
            tied_weight = nn.Parameter(torch.empty(vocab_size, d_model).uniform_(-bound, bound))
        self.weight = tied_weight
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        return (x + self.bias) @ self.weight.T
