"""Projects with einsum over the feature axis."""
# exercise: project_qkv
# verdict: correct
def project_qkv(x, w_q, w_k, w_v):
    return tuple(torch.einsum("...td,de->...te", x, w) for w in (w_q, w_k, w_v))
