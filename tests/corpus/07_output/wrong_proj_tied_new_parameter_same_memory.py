"""Wraps the tied weight's data in a new Parameter: the values are shared, but the gradients go to a leaf of its own."""
# exercise: output_projection
# verdict: wrong
class OutputProjection(nn.Module):
    def __init__(self, d_model, vocab_size, tied_weight=None):
        super().__init__()
        if tied_weight is None:
            tied_weight = torch.randn(vocab_size, d_model) / d_model ** 0.5
        self.weight = nn.Parameter(tied_weight.data)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, x):
        return x @ self.weight.T + self.bias
