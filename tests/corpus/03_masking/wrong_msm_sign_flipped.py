"""Writes the derivative with the sign flipped, p * (sum(grad_p * p) - grad_p)."""
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
        return p * ((grad_p * p).sum(dim=-1, keepdim=True) - grad_p), None
