"""Layer normalisation and the residual "Add & Norm" around every sublayer."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ._checks import require_floating, require_min_ndim, require_positive_int, require_tensor


def layer_norm(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Normalise each feature vector to mean 0 and variance 1, then scale by gamma and shift by beta.

    Args:
        x: float32/float64 ``(..., d_model)``.
        gamma: ``(d_model,)`` scale.
        beta: ``(d_model,)`` shift.
        eps: added to the variance *inside* the square root.

    Returns:
        ``(..., d_model)`` in ``x``'s dtype and device; equals
        ``torch.nn.functional.layer_norm(x, x.shape[-1:], gamma, beta, eps)``.

    Equation: LN(x) = gamma * (x - mean) / sqrt(var + eps) + beta, with mean and the
    *biased* variance (divide by d_model, not d_model - 1) over the last axis.

    Taught in: course/06_add_norm
    """
    require_min_ndim(x, "x", 1, "(..., d_model)")
    require_floating(x, "x")
    d_model = x.shape[-1]
    for name, param in (("gamma", gamma), ("beta", beta)):
        require_tensor(param, name)
        if tuple(param.shape) != (d_model,):
            raise ValueError(f"{name} must have shape (d_model,) = ({d_model},), got {tuple(param.shape)}")
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1), biased like nn.LayerNorm
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta


def add_and_norm(
    x: torch.Tensor,
    sublayer_out: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    eps: float = 1e-5,
) -> torch.Tensor:
    """The lecture's post-norm residual: LayerNorm(x + Sublayer(x)).

    Args:
        x: the sublayer's input ``(..., d_model)``.
        sublayer_out: the sublayer's output, same shape as ``x``.
        gamma, beta: ``(d_model,)``.
        eps: as in :func:`layer_norm`.

    Returns:
        ``(..., d_model)`` in ``x``'s dtype and device.

    Equation: AddNorm(x) = LayerNorm(x + Sublayer(x)).

    Taught in: course/06_add_norm
    """
    require_tensor(x, "x")
    require_tensor(sublayer_out, "sublayer_out")
    if sublayer_out.shape != x.shape:
        raise ValueError(
            f"sublayer_out must have the shape of x {tuple(x.shape)} (the residual adds them), "
            f"got {tuple(sublayer_out.shape)}"
        )
    return layer_norm(x + sublayer_out, gamma, beta, eps)


class LayerNorm(nn.Module):
    """:func:`layer_norm` with learnable ``weight`` (gamma, ones) and ``bias`` (beta, zeros).

    Args:
        d_model: size of the normalised last axis.
        eps: as in :func:`layer_norm`.

    forward: ``(..., d_model)`` -> ``(..., d_model)``. Same parameter names as ``nn.LayerNorm``,
    so state dicts can be copied across.

    Taught in: course/06_add_norm
    """

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        require_positive_int(d_model, "d_model")
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm(x, self.weight, self.bias, self.eps)


def residual(
    x: torch.Tensor,
    sublayer: Callable[[torch.Tensor], torch.Tensor],
    norm: Callable[[torch.Tensor], torch.Tensor],
    norm_first: bool = False,
) -> torch.Tensor:
    """One residual connection with its layer norm, post-norm (lecture) or pre-norm.

    Post-norm (Vaswani et al., the lecture's default): ``norm(x + sublayer(x))``.
    Pre-norm (GPT-2 and most models since): ``x + sublayer(norm(x))``, which keeps an
    un-normalised path from input to output and trains more easily when deep.

    The one place both orders live; :class:`ResidualNorm` and the blocks use it.

    Taught in: course/06_add_norm
    """
    if norm_first:
        return x + sublayer(norm(x))
    return norm(x + sublayer(x))


class ResidualNorm(nn.Module):
    """A sublayer wrapped in its residual connection and layer norm.

    Args:
        d_model: model width.
        norm_first: False (default) = the lecture's post-norm ``norm(x + sublayer(x))``;
            True = pre-norm ``x + sublayer(norm(x))``.

    forward(x ``(..., d_model)``, sublayer: callable ``(..., d_model) -> (..., d_model)``)
    -> ``(..., d_model)``.

    Taught in: course/06_add_norm
    """

    def __init__(self, d_model: int, norm_first: bool = False) -> None:
        super().__init__()
        self.norm = LayerNorm(d_model)
        self.norm_first = norm_first

    def forward(self, x: torch.Tensor, sublayer: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return residual(x, sublayer, self.norm, self.norm_first)
