"""Uses F.linear with nn.init.kaiming_uniform_ for the untied weight and register_parameter for the tied one."""
# exercise: output_projection
# verdict: correct
class OutputProjection(nn.Module):
    def __init__(self, d_model, vocab_size, tied_weight=None):
        super().__init__()
        if tied_weight is None:
            tied_weight = nn.Parameter(torch.empty(vocab_size, d_model))
            nn.init.kaiming_uniform_(tied_weight, a=math.sqrt(5))
        self.register_parameter("weight", tied_weight)
        self.bias = nn.Parameter(torch.empty(vocab_size).uniform_(-1 / math.sqrt(d_model), 1 / math.sqrt(d_model)))

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)
