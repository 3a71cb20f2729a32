"""Saves the scores and recomputes the softmax in the backward pass without the mask, so masked keys receive gradient."""
# exercise: masked_softmax
# verdict: wrong
class MaskedSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, mask):
        ctx.save_for_backward(scores)
        return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)

    @staticmethod
    def backward(ctx, grad_p):
        (scores,) = ctx.saved_tensors
        q = torch.softmax(scores, dim=-1)
        return q * (grad_p - (grad_p * q).sum(dim=-1, keepdim=True)), None
