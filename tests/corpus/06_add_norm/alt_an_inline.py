"""Writes the norm of the sum inline instead of calling layer_norm."""
# exercise: add_and_norm
# verdict: correct
def add_and_norm(x, sublayer_out, gamma, beta, eps=1e-5):
    total = torch.add(x, sublayer_out)
    var, mean = torch.var_mean(total, dim=-1, keepdim=True, correction=0)
    return (total - mean) / torch.sqrt(var + eps) * gamma + beta
