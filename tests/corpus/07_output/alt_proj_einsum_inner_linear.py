"""Keeps an inner nn.Linear whose weight and bias are exposed (and tied by assignment); einsum in forward."""
# exercise: output_projection
# verdict: correct
class OutputProjection(nn.Module):
    def __init__(self, d_model, vocab_size, tied_weight=None):
        super().__init__()
        linear = nn.Linear(d_model, vocab_size)
        if tied_weight is not None:
            linear.weight = tied_weight
        self.weight = linear.weight
        self.bias = linear.bias

    def forward(self, x):
        return torch.einsum("...d,vd->...v", x, self.weight) + self.bias
