"""The backward pass runs autograd on a copy of the graph (.backward(), then .grad)."""
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
            torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1).nan_to_num().backward(grad_p)
        return s.grad, None
