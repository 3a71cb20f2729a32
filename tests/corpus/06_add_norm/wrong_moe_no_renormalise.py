"""Weights the chosen experts by their raw router probabilities without renormalising them."""
# exercise: mixture_of_experts
# verdict: wrong
class MixtureOfExperts(nn.Module):
    def __init__(self, d_model, d_ff, num_experts, top_k):
        super().__init__()
        self.router = nn.Linear(d_model, num_experts)
        self.experts = nn.ModuleList(FeedForward(d_model, d_ff) for _ in range(num_experts))
        self.top_k = top_k

    def forward(self, x):
        probs = torch.softmax(self.router(x), dim=-1)
        top_p, top_i = probs.topk(self.top_k, dim=-1)
        outs = torch.stack([expert(x) for expert in self.experts], dim=-2)   # (..., E, d)
        chosen = outs.gather(-2, top_i.unsqueeze(-1).expand(*top_i.shape, x.shape[-1]))
        return (top_p.unsqueeze(-1) * chosen).sum(dim=-2)
