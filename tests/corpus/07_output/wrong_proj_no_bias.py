"""Has no bias: logits = x W^T only."""
# exercise: output_projection
# verdict: wrong
class OutputProjection(nn.Module):
    def __init__(self, d_model, vocab_size, tied_weight=None):
        super().__init__()
        self.weight = tied_weight if tied_weight is not None else nn.Parameter(torch.randn(vocab_size, d_model) / d_model ** 0.5)

    def forward(self, x):
        return x @ self.weight.T
