"""Loops over the tokens one by one in Python and uses a masked_fill softmax with -inf."""
# exercise: mixture_of_experts
# verdict: correct
class MixtureOfExperts(nn.Module):
    def __init__(self, d_model, d_ff, num_experts, top_k):
        super().__init__()
        self.router = nn.Linear(d_model, num_experts)
        self.experts = nn.ModuleList(FeedForward(d_model, d_ff) for _ in range(num_experts))
        self.top_k = top_k

    def forward(self, x):
        flat = x.reshape(-1, x.shape[-1])
        rows = []
        for token in flat:
            scores = self.router(token)
            keep = torch.zeros_like(scores, dtype=torch.bool)
            keep[scores.topk(self.top_k).indices] = True
            weights = torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1)
            row = sum(weights[e] * self.experts[e](token) for e in range(len(self.experts)) if keep[e])
            rows.append(row)
        return torch.stack(rows).reshape(x.shape)
