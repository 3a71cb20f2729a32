"""Stores the weight as (d_model, V) and multiplies x @ W."""
# exercise: output_projection
# verdict: wrong
class OutputProjection(nn.Module):
    def __init__(self, d_model, vocab_size, tied_weight=None):
        super().__init__()
        if tied_weight is not None:
            self.weight = nn.Parameter(tied_weight.T)
        else:
            self.weight = nn.Parameter(torch.randn(d_model, vocab_size) / d_model ** 0.5)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, x):
        return x @ self.weight + self.bias
