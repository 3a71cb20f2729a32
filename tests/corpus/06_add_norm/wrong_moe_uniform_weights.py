"""Averages the chosen experts' outputs without the router weights."""
# exercise: mixture_of_experts
# verdict: wrong
class MixtureOfExperts(nn.Module):
    def __init__(self, d_model, d_ff, num_experts, top_k):
        super().__init__()
        self.router = nn.Linear(d_model, num_experts)
        self.experts = nn.ModuleList(FeedForward(d_model, d_ff) for _ in range(num_experts))
        self.top_k = top_k

    def forward(self, x):
        top_i = self.router(x).topk(self.top_k, dim=-1).indices
        outs = torch.stack([expert(x) for expert in self.experts], dim=-2)
        chosen = outs.gather(-2, top_i.unsqueeze(-1).expand(*top_i.shape, x.shape[-1]))
        return chosen.mean(dim=-2)
