"""Keeps linear1 and linear2 but runs them through an nn.Sequential that shares the same layers."""
# exercise: feed_forward
# verdict: correct
class FeedForward(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.net = nn.Sequential(self.linear1, nn.ReLU(), self.linear2)

    def forward(self, x):
        return self.net(x)
