"""Uses the layers' weights directly with matmul and clamp(min=0) for the ReLU."""
# exercise: feed_forward
# verdict: correct
class FeedForward(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)

    def forward(self, x):
        hidden = (x @ self.linear1.weight.T + self.linear1.bias).clamp(min=0)
        return torch.matmul(hidden, self.linear2.weight.transpose(0, 1)) + self.linear2.bias
