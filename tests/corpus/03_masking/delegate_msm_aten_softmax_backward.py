"""The backward pass calls ATen's own softmax backward kernel."""
# exercise: masked_softmax
# verdict: delegates
class MaskedSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, mask):
        p = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1).nan_to_num()
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad_p):
        (p,) = ctx.saved_tensors
        return torch.ops.aten._softmax_backward_data(grad_p, p, -1, p.dtype), None
