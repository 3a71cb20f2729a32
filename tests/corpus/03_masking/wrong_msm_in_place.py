"""Masks the caller's scores in place with masked_fill_ before the softmax."""
# exercise: masked_softmax
# verdict: wrong
class MaskedSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, mask):
        scores.masked_fill_(~mask, float("-inf"))
        p = torch.softmax(scores, dim=-1)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad_p):
        (p,) = ctx.saved_tensors
        return p * (grad_p - (grad_p * p).sum(dim=-1, keepdim=True)), None
