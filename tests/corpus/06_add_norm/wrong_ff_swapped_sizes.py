"""Swaps in_features and out_features of the layers (works only when d_model == d_ff)."""
# exercise: feed_forward
# verdict: wrong
class FeedForward(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.linear1 = nn.Linear(d_ff, d_model)
        self.linear2 = nn.Linear(d_model, d_ff)

    def forward(self, x):
        return self.linear2(torch.relu(self.linear1(x)))
