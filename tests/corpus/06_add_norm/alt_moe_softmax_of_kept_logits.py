"""Picks the top-k router logits and takes the softmax over those k (equal to renormalising)."""
# exercise: mixture_of_experts
# verdict: correct
class MixtureOfExperts(nn.Module):
    def __init__(self, d_model, d_ff, num_experts, top_k):
        super().__init__()
        self.router = nn.Linear(d_model, num_experts)
        self.experts = nn.ModuleList(FeedForward(d_model, d_ff) for _ in range(num_experts))
        self.top_k = top_k

    def forward(self, x):
        logits = self.router(x)
        kept, idx = logits.topk(self.top_k, dim=-1)
        weights = torch.softmax(kept, dim=-1)
        out = torch.zeros_like(x)
        for slot in range(self.top_k):
            for e, expert in enumerate(self.experts):
                mask = (idx[..., slot] == e)
                if mask.any():
                    out[mask] = out[mask] + weights[..., slot][mask].unsqueeze(-1) * expert(x[mask])
        return out
