"""Takes the router softmax over the tokens (dim 0) instead of over the experts."""
# exercise: mixture_of_experts
# verdict: wrong
class MixtureOfExperts(nn.Module):
    def __init__(self, d_model, d_ff, num_experts, top_k):
        super().__init__()
        self.router = nn.Linear(d_model, num_experts)
        self.experts = nn.ModuleList(FeedForward(d_model, d_ff) for _ in range(num_experts))
        self.top_k = top_k

    def forward(self, x):
        tokens = x.reshape(-1, x.shape[-1])
        probs = torch.softmax(self.router(tokens), dim=0)
        top_p, top_i = probs.topk(self.top_k, dim=-1)
        top_p = top_p / top_p.sum(dim=-1, keepdim=True)
        outs = torch.stack([expert(tokens) for expert in self.experts], dim=1)
        chosen = outs.gather(1, top_i.unsqueeze(-1).expand(*top_i.shape, x.shape[-1]))
        return (top_p.unsqueeze(-1) * chosen).sum(dim=1).reshape(x.shape)
