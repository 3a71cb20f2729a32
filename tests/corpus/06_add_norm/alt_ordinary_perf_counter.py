"""Our solution, and measures time with time.perf_counter: ordinary Python never costs a point."""
# exercise: mixture_of_experts
# verdict: correct
import time
_t0 = time.perf_counter()
class MixtureOfExperts(nn.Module):
    """Top-k gated mixture of feed-forward experts.

    Attributes: router = nn.Linear(d_model, num_experts); experts = nn.ModuleList of num_experts
    FeedForward(d_model, d_ff); top_k = the number of experts each token uses.
    forward(x): x (..., d_model) -> (..., d_model). For every token: probs = softmax(router(x))
    over the experts, keep the top_k largest, renormalise them to sum to 1, and return the
    weighted sum of those experts' outputs. The other experts contribute nothing.
    """

    def __init__(self, d_model, d_ff, num_experts, top_k):
        super().__init__()
        self.router = nn.Linear(d_model, num_experts)
        self.experts = nn.ModuleList(FeedForward(d_model, d_ff) for _ in range(num_experts))
        self.top_k = top_k

    def forward(self, x):
        tokens = x.reshape(-1, x.shape[-1])                       # (N, d_model), N = all tokens
        probs = torch.softmax(self.router(tokens), dim=-1)        # (N, E)
        top_p, top_i = probs.topk(self.top_k, dim=-1)             # (N, k) each
        top_p = top_p / top_p.sum(dim=-1, keepdim=True)           # renormalise over the chosen k
        out = torch.zeros_like(tokens)                            # (N, d_model)
        for e, expert in enumerate(self.experts):
            token_idx, slot = torch.where(top_i == e)             # the tokens that chose expert e
            if token_idx.numel() == 0:
                continue
            weight = top_p[token_idx, slot].unsqueeze(-1)         # (n_e, 1)
            out = out.index_add(0, token_idx, weight * expert(tokens[token_idx]))  # only those tokens run expert e
        return out.reshape(x.shape)
print(f'{time.perf_counter() - _t0:.0f} s'[:0])
