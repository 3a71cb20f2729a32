"""Mixes all experts with the router probabilities (ignores top_k)."""
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
        outs = torch.stack([expert(x) for expert in self.experts], dim=-2)
        return (probs.unsqueeze(-1) * outs).sum(dim=-2)
