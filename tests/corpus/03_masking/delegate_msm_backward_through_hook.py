"""The backward pass runs autograd itself: `.backward(g)` on a recomputed forward, the gradient caught
by a hook (no `.grad`, no `autograd.grad`); defining a method called `backward` does not make
Tensor.backward the student's own."""
# exercise: masked_softmax
# verdict: delegates
class MaskedSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, mask):
        ctx.save_for_backward(scores, mask)
        s = scores.masked_fill(~mask, float("-inf"))
        e = torch.exp(s - s.amax(dim=-1, keepdim=True)).nan_to_num()
        return e / e.sum(dim=-1, keepdim=True).clamp_min(1e-30)

    @staticmethod
    def backward(ctx, grad_p):
        scores, mask = ctx.saved_tensors
        caught = []
        with torch.enable_grad():
            x = scores.detach().requires_grad_()
            s = x.masked_fill(~mask, float("-inf"))
            e = torch.exp(s - s.amax(dim=-1, keepdim=True)).nan_to_num()
            p = e / e.sum(dim=-1, keepdim=True).clamp_min(1e-30)
            x.register_hook(caught.append)
            p.backward(grad_p)
        return caught[0], None
