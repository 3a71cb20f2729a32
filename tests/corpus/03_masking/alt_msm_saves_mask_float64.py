"""Saves the output and the mask, computes the backward pass in float64 and multiplies by the mask explicitly."""
# exercise: masked_softmax
# verdict: correct
class MaskedSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, mask):
        masked = scores.masked_fill(mask.logical_not(), float("-inf"))
        p = masked.softmax(dim=-1)
        ctx.save_for_backward(p, mask)
        return p

    @staticmethod
    def backward(ctx, grad_p):
        p, mask = ctx.saved_tensors
        p64, g64 = p.double(), grad_p.double()
        dot = torch.sum(g64 * p64, dim=-1, keepdim=True)
        grad = (p64 * g64 - p64 * dot) * mask
        return grad.to(grad_p.dtype), None
