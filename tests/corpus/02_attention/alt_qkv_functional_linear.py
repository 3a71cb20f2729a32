"""Uses torch.nn.functional.linear with the transposed weight (linear computes x @ W^T)."""
# exercise: project_qkv
# verdict: correct
import torch.nn.functional as F
def project_qkv(x, w_q, w_k, w_v):
    return F.linear(x, w_q.t()), F.linear(x, w_k.t()), F.linear(x, w_v.t())
