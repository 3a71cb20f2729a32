"""From the last hidden state to a next token: output projection, temperature, sampling."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import require_floating, require_min_ndim, require_positive_int, require_temperature
from .attention import softmax


class OutputProjection(nn.Module):
    """Linear map from the model width to one logit per vocabulary entry.

    Args:
        d_model: model width.
        vocab_size: V.
        tied_weight: optional ``(V, d_model)`` ``nn.Parameter`` to share, typically
            ``TokenEmbedding.weight`` (weight tying: the same matrix reads tokens in and writes them out).

    Attributes:
        weight: ``(V, d_model)``; bias: ``(V,)``, zeros at initialisation.

    forward: ``(..., d_model)`` -> logits ``(..., V)``.

    Equation: logits = x Wᵀ + b.

    Taught in: course/07_output
    """

    def __init__(self, d_model: int, vocab_size: int, tied_weight: nn.Parameter | None = None) -> None:
        super().__init__()
        require_positive_int(d_model, "d_model")
        require_positive_int(vocab_size, "vocab_size")
        if tied_weight is None:
            # nn.Linear's default range, so an untied projection starts like a plain Linear.
            bound = 1.0 / math.sqrt(d_model)
            tied_weight = nn.Parameter(torch.empty(vocab_size, d_model).uniform_(-bound, bound))
        elif not isinstance(tied_weight, nn.Parameter):
            raise ValueError(
                "tied_weight must be an nn.Parameter (e.g. TokenEmbedding.weight), so that it is shared and trained"
            )
        elif tuple(tied_weight.shape) != (vocab_size, d_model):
            raise ValueError(
                f"tied_weight must have shape (vocab_size, d_model) = ({vocab_size}, {d_model}), "
                f"got {tuple(tied_weight.shape)}"
            )
        self.weight = tied_weight
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T + self.bias  # (..., V)


def softmax_with_temperature(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Turn logits into next-token probabilities, sharpened (T < 1) or flattened (T > 1).

    Args:
        logits: float32/float64 ``(..., V)``.
        temperature: T > 0. T -> 0 approaches a one-hot on the argmax; T -> inf approaches uniform.

    Returns:
        ``(..., V)`` probabilities in ``logits``' dtype and device, summing to 1 over V.

    Equation: p_i = exp(z_i / T) / sum_j exp(z_j / T).

    Taught in: course/07_output
    """
    require_min_ndim(logits, "logits", 1, "(..., V)")
    require_floating(logits, "logits")
    require_temperature(temperature, allow_zero=False)
    # Shift by the row max *before* dividing: z / T overflows for small T
    # (1e4 / 1e-36 is inf in float32), while (z - max) / T is <= 0 and its exp
    # underflows harmlessly to 0.
    shifted = logits - logits.amax(dim=-1, keepdim=True)
    return softmax(shifted / temperature, dim=-1)


def sample_next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token id per row of logits; temperature 0 means greedy argmax.

    Args:
        logits: float32/float64 ``(..., V)``.
        temperature: T >= 0. 0 = greedy (argmax), otherwise sample from
            :func:`softmax_with_temperature` ``(logits, T)``.
        generator: optional ``torch.Generator``; the same seeded generator gives the same draws.

    Returns:
        long ``(...)`` token ids, on ``logits``' device.

    Equation: next ~ Categorical(softmax(z / T)); for T = 0, next = argmax_i z_i.

    Taught in: course/07_output
    """
    require_min_ndim(logits, "logits", 1, "(..., V)")
    require_floating(logits, "logits")
    require_temperature(temperature, allow_zero=True)
    if float(temperature) == 0.0:
        return logits.argmax(dim=-1)  # (...)
    probs = softmax_with_temperature(logits, temperature)  # (..., V)
    # torch.multinomial wants (rows, V): flatten every leading batch axis into rows.
    rows = probs.reshape(-1, probs.shape[-1])  # (N, V)
    draws = torch.multinomial(rows, num_samples=1, generator=generator)  # (N, 1)
    return draws.reshape(logits.shape[:-1])  # (...)
