"""A correct softmax with temperature put on a class with setattr, then called through it."""
# exercise: softmax_with_temperature
# verdict: review
class _Impl:
    pass
def _stable(logits, temperature=1.0):
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = logits / temperature
    e = torch.exp(z - z.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)
setattr(_Impl, "run", staticmethod(_stable))
def softmax_with_temperature(logits, temperature=1.0):
    return _Impl.run(logits, temperature)
