"""Position-wise feed-forward network and a top-k mixture of experts."""

from __future__ import annotations

import torch
from torch import nn

from ._checks import require_min_ndim, require_positive_int
from .attention import softmax


class FeedForward(nn.Module):
    """Two linear layers with a ReLU between them, applied to every position separately.

    Args:
        d_model: model width (input and output).
        d_ff: hidden width (the paper uses 4 * d_model).

    Attributes:
        linear1: ``nn.Linear(d_model, d_ff)``; linear2: ``nn.Linear(d_ff, d_model)``
        (the names ``nn.TransformerEncoderLayer`` uses).

    forward: ``(..., d_model)`` -> ``(..., d_model)``.

    Equation: FFN(x) = max(0, x W_1 + b_1) W_2 + b_2.

    Taught in: course/06_add_norm
    """

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        require_positive_int(d_model, "d_model")
        require_positive_int(d_ff, "d_ff")
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(torch.relu(self.linear1(x)))  # (..., d_ff) -> (..., d_model)


class MixtureOfExperts(nn.Module):
    """A router sends each position to its top_k expert feed-forward networks and mixes their outputs.

    Args:
        d_model: model width.
        d_ff: hidden width of each expert.
        num_experts: E, the number of experts.
        top_k: how many experts each position uses (1 <= top_k <= E).

    Attributes:
        router: ``nn.Linear(d_model, E)``, one score per expert.
        experts: ``nn.ModuleList`` of E :class:`FeedForward`.
        last_expert_counts: long ``(E,)``, how many positions chose each expert in the
            latest forward (for load histograms; None before the first call).

    forward: ``(..., d_model)`` -> ``(..., d_model)``.

    Equation: p = softmax(x W_r + b_r); S = the top_k indices of p;
    MoE(x) = sum_{e in S} (p_e / sum_{e' in S} p_e') * FFN_e(x).

    Taught in: course/06_add_norm
    """

    def __init__(self, d_model: int, d_ff: int, num_experts: int, top_k: int) -> None:
        super().__init__()
        require_positive_int(num_experts, "num_experts")
        require_positive_int(top_k, "top_k")
        if top_k > num_experts:
            raise ValueError(f"top_k ({top_k}) must be at most num_experts ({num_experts})")
        self.d_model = d_model
        self.num_experts = num_experts
        self.top_k = top_k
        self.router = nn.Linear(d_model, num_experts)
        self.experts = nn.ModuleList(FeedForward(d_model, d_ff) for _ in range(num_experts))
        self.last_expert_counts: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        require_min_ndim(x, "x", 1, "(..., d_model)")
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x must have d_model={self.d_model} features last, got shape {tuple(x.shape)}")
        tokens = x.reshape(-1, self.d_model)  # (N, d_model), N = every position in the batch
        probs = softmax(self.router(tokens), dim=-1)  # (N, E)
        top_p, top_e = probs.topk(self.top_k, dim=-1)  # (N, top_k) each
        # Renormalise so the chosen experts' weights sum to 1, as if the others did not exist.
        top_p = top_p / top_p.sum(dim=-1, keepdim=True)  # (N, top_k)

        out = torch.zeros_like(tokens)  # (N, d_model)
        for e, expert in enumerate(self.experts):
            # Which positions chose expert e, and in which of their top_k slots.
            rows, slot = torch.where(top_e == e)  # (n_e,) each
            if rows.numel() == 0:
                continue  # an expert nobody chose does no work: that is the point of a sparse MoE
            weighted = top_p[rows, slot].unsqueeze(-1) * expert(tokens[rows])  # (n_e, d_model)
            out = out.index_add(0, rows, weighted)
        self.last_expert_counts = torch.bincount(top_e.flatten(), minlength=self.num_experts)
        return out.reshape(x.shape)  # (..., d_model)
