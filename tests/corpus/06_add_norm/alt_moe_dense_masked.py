"""Runs every expert on every token and zeroes the weights outside the top-k with scatter."""
# exercise: mixture_of_experts
# verdict: correct
class MixtureOfExperts(nn.Module):
    def __init__(self, d_model, d_ff, num_experts, top_k):
        super().__init__()
        self.router = nn.Linear(d_model, num_experts)
        self.experts = nn.ModuleList([FeedForward(d_model, d_ff) for _ in range(num_experts)])
        self.top_k = top_k

    def forward(self, x):
        probs = torch.softmax(self.router(x), dim=-1)                          # (..., E)
        top_p, top_i = torch.topk(probs, self.top_k, dim=-1)
        gates = torch.zeros_like(probs).scatter(-1, top_i, top_p / top_p.sum(-1, keepdim=True))
        outs = torch.stack([expert(x) for expert in self.experts], dim=-1)    # (..., d, E)
        return torch.einsum("...de,...e->...d", outs, gates)
