"""Argument checks shared by every module (private).

Each helper raises ``ValueError`` whose message starts with the argument's name,
so a student who passes the wrong thing reads *which* argument is wrong and why.
"""

from __future__ import annotations

import numbers

import torch


def require_tensor(value, name: str) -> None:
    """Raise unless ``value`` is a ``torch.Tensor``."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")


def require_ndim(tensor: torch.Tensor, name: str, ndim: int, layout: str) -> None:
    """Raise unless ``tensor`` has exactly ``ndim`` dimensions; ``layout`` reads e.g. ``"(B, T, d_model)"``."""
    require_tensor(tensor, name)
    if tensor.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions {layout}, got shape {tuple(tensor.shape)}")


def require_min_ndim(tensor: torch.Tensor, name: str, min_ndim: int, layout: str) -> None:
    """Raise unless ``tensor`` has at least ``min_ndim`` dimensions; ``layout`` reads e.g. ``"(..., T, d_k)"``."""
    require_tensor(tensor, name)
    if tensor.dim() < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions {layout}, got shape {tuple(tensor.shape)}"
        )


def require_floating(tensor: torch.Tensor, name: str) -> None:
    """Raise unless ``tensor`` holds floating-point numbers."""
    require_tensor(tensor, name)
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor (float32 or float64), got {tensor.dtype}")


def require_integer(tensor: torch.Tensor, name: str) -> None:
    """Raise unless ``tensor`` holds integer ids (e.g. ``torch.long``)."""
    require_tensor(tensor, name)
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor of token ids (torch.long), got {tensor.dtype}")


def require_bool_mask(mask: torch.Tensor, name: str = "mask") -> None:
    """Raise unless ``mask`` is a boolean tensor (True = may attend)."""
    require_tensor(mask, name)
    if mask.dtype != torch.bool:
        raise ValueError(
            f"{name} must be a boolean tensor with True = may attend, got {mask.dtype}"
        )


def require_positive_int(value, name: str, *, allow_zero: bool = False) -> None:
    """Raise unless ``value`` is an int > 0 (or >= 0 with ``allow_zero``)."""
    # bool is an int subclass, but `num_heads=True` is always a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    smallest = 0 if allow_zero else 1
    if value < smallest:
        raise ValueError(f"{name} must be >= {smallest}, got {value}")


def require_divisible(d_model: int, num_heads: int) -> None:
    """Raise unless the model width splits evenly into heads (d_head = d_model / H)."""
    require_positive_int(num_heads, "num_heads")
    if d_model % num_heads != 0:
        raise ValueError(
            f"num_heads ({num_heads}) must divide d_model ({d_model}) evenly, "
            f"so that every head gets d_head = d_model // num_heads features"
        )


def require_temperature(temperature, *, allow_zero: bool) -> None:
    """Raise unless ``temperature`` is a real number > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(temperature, bool) or not isinstance(temperature, (numbers.Real, torch.Tensor)):
        raise ValueError(f"temperature must be a number, got {type(temperature).__name__}")
    if isinstance(temperature, torch.Tensor) and temperature.numel() != 1:
        raise ValueError(f"temperature must be a single number, got shape {tuple(temperature.shape)}")
    value = float(temperature)
    # Written as `not (value > 0)` so that NaN is refused too.
    if allow_zero and not (value >= 0):
        raise ValueError(f"temperature must be >= 0 (0 means greedy argmax), got {value}")
    if not allow_zero and not (value > 0):
        raise ValueError(f"temperature must be > 0, got {value}")
