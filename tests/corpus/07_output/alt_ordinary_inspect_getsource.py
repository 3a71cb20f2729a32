"""Our solution, and counts its own source lines with inspect.getsource: ordinary Python never costs a point."""
# exercise: output_projection
# verdict: correct
import inspect
class OutputProjection(nn.Module):
    """Final linear layer: model vectors -> one logit per vocabulary token.

    Attributes: weight (V, d_model) nn.Parameter, the embedding's own Parameter when tied_weight is given;
                bias (V,) nn.Parameter.
    forward(x): x (..., d_model) -> logits (..., V) = x @ weight.T + bias
    """

    def __init__(self, d_model, vocab_size, tied_weight=None):
        super().__init__()
        if tied_weight is None:
            bound = 1 / math.sqrt(d_model)
            tied_weight = nn.Parameter(torch.empty(vocab_size, d_model).uniform_(-bound, bound))
        self.weight = tied_weight                                 # (V, d_model), shared when tied
        self.bias = nn.Parameter(torch.zeros(vocab_size))         # (V,)

    def forward(self, x):
        return x @ self.weight.T + self.bias                      # (..., V)
print(len(inspect.getsource(OutputProjection).splitlines()) > 0)
