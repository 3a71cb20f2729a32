"""The backward pass asks autograd for the gradient of torch.softmax instead of writing it."""
# exercise: masked_softmax
# verdict: delegates
class MaskedSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, mask):
        ctx.save_for_backward(scores, mask)
        return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1).nan_to_num()

    @staticmethod
    def backward(ctx, grad_p):
        scores, mask = ctx.saved_tensors
        with torch.enable_grad():
            s = scores.detach().requires_grad_()
            p = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1).nan_to_num()
            (grad,) = torch.autograd.grad(p, s, grad_p)
        return grad, None
