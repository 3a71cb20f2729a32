"""Sums grad_p * p over the queries (dim=-2) instead of over the keys the softmax normalised."""
# exercise: masked_softmax
# verdict: wrong
class MaskedSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, mask):
        p = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad_p):
        (p,) = ctx.saved_tensors
        return p * (grad_p - (grad_p * p).sum(dim=-2, keepdim=True)), None
