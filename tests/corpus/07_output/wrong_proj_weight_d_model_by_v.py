"""Stores the untied weight as (d_model, V) and multiplies without transposing."""
# exercise: output_projection
# verdict: wrong
class OutputProjection(nn.Module):
    def __init__(self, d_model, vocab_size, tied_weight=None):
        super().__init__()
        if tied_weight is None:
            bound = 1 / math.sqrt(d_model)
            tied_weight = nn.Parameter(torch.empty(d_model, vocab_size).uniform_(-bound, bound))
            self.weight = tied_weight
        else:
            self.weight = tied_weight
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, x):
        w = self.weight if self.weight.shape[0] == x.shape[-1] else self.weight.T
        return x @ w + self.bias
