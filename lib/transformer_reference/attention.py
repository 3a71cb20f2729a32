"""Scaled dot-product attention, masks, and multi-head attention.

Lecture words: a query is "what I am looking for", a key is "what I can teach",
a value is "the knowledge". Each query scores every key, the scores become
weights with a softmax, and the output is the weighted sum of the values.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import (
    require_bool_mask,
    require_divisible,
    require_floating,
    require_integer,
    require_min_ndim,
    require_ndim,
    require_positive_int,
)


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Numerically stable softmax along ``dim``.

    Args:
        x: float32 or float64 tensor of any shape.
        dim: the axis whose entries become probabilities (default: the last one).

    Returns:
        Tensor of ``x``'s shape, dtype and device; entries along ``dim`` are >= 0 and sum to 1.

    Equation: softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m), with m = max_j x_j.

    Taught in: course/02_attention
    """
    require_floating(x, "x")
    # Subtracting the row maximum changes nothing mathematically (it cancels in
    # the ratio) but keeps exp() <= 1, so scores like 1e4 do not overflow to inf.
    # The shift is a constant for the gradient, hence detach().
    shift = x.amax(dim=dim, keepdim=True).detach()
    exps = torch.exp(x - shift)
    return exps / exps.sum(dim=dim, keepdim=True)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention(Q, K, V) = softmax(Q Kᵀ / sqrt(d_k)) V, returning the output and the weights.

    Args:
        q: queries, float32/float64 ``(..., T_q, d_k)``.
        k: keys, same dtype ``(..., T_k, d_k)``.
        v: values, same dtype ``(..., T_k, d_v)``.
        mask: optional bool, broadcastable to ``(..., T_q, T_k)``; True = the query may attend
            to that key. Masked keys get weight exactly 0.

    Returns:
        ``(output, weights)``: output ``(..., T_q, d_v)``, weights ``(..., T_q, T_k)`` that sum to 1
        over the keys; both in ``q``'s dtype and device. A query whose keys are *all* masked
        gets all-zero weights (and a zero output) instead of NaN.

    Equation: weights = softmax(Q Kᵀ / sqrt(d_k)), output = weights V.
    Dividing by sqrt(d_k) keeps the scores' variance near 1 however wide the heads are,
    so the softmax does not saturate.

    Taught in: course/02_attention (masks: course/03_masking)
    """
    require_min_ndim(q, "q", 2, "(..., T_q, d_k)")
    require_min_ndim(k, "k", 2, "(..., T_k, d_k)")
    require_min_ndim(v, "v", 2, "(..., T_k, d_v)")
    require_floating(q, "q")
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(f"k must have the queries' feature size d_k={q.shape[-1]} last, got shape {tuple(k.shape)}")
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(f"v must have one row per key (T_k={k.shape[-2]}), got shape {tuple(v.shape)}")
    d_k = q.shape[-1]

    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., T_q, T_k)
    if mask is not None:
        require_bool_mask(mask, "mask")
        try:
            broadcastable = torch.broadcast_shapes(mask.shape, scores.shape) == scores.shape
        except RuntimeError:
            broadcastable = False
        if not broadcastable:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} must be broadcastable to (..., T_q, T_k) = {tuple(scores.shape)}"
            )
        # The most negative finite value rather than -inf: a fully masked row then
        # stays finite (uniform) instead of turning into NaN that would spread
        # through later layers.
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = softmax(scores, dim=-1)  # (..., T_q, T_k)
    if mask is not None:
        # Already exactly 0 wherever a row has one allowed key; this only matters
        # for fully masked rows, which now attend to nothing rather than to everything.
        weights = weights.masked_fill(~mask, 0.0)
    output = weights @ v  # (..., T_q, d_v)
    return output, weights


def causal_mask(seq_len: int) -> torch.Tensor:
    """Mask that lets position i attend to positions j <= i only (no peeking at the future).

    Args:
        seq_len: T, the number of positions (int >= 1).

    Returns:
        bool ``(T, T)``; entry ``[i, j]`` is True where key j <= query i (lower triangle).

    Equation: mask[i, j] = (j <= i).

    Taught in: course/03_masking
    """
    require_positive_int(seq_len, "seq_len")
    return torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool))


def padding_mask(token_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Mask that hides padding keys from every query.

    Args:
        token_ids: long ``(B, T)``.
        pad_id: the id used for padding.

    Returns:
        bool ``(B, 1, T)``: True where the *key* is a real token. The singleton
        query axis broadcasts over all queries of ``(B, T_q, T)`` scores.

    Equation: mask[b, 0, j] = (token_ids[b, j] != pad_id).

    Taught in: course/03_masking
    """
    require_ndim(token_ids, "token_ids", 2, "(B, T)")
    require_integer(token_ids, "token_ids")
    return (token_ids != pad_id).unsqueeze(-2)  # (B, 1, T)


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Cut the feature axis into ``num_heads`` heads of width d_head = d_model // H.

    Args:
        x: ``(B, T, d_model)``.
        num_heads: H; must divide d_model.

    Returns:
        ``(B, H, T, d_head)``, same dtype and device; head h holds features
        ``h*d_head : (h+1)*d_head`` of ``x``.

    Equation: head_h(x)[b, t, :] = x[b, t, h*d_head : (h+1)*d_head].

    Taught in: course/04_multihead
    """
    require_ndim(x, "x", 3, "(B, T, d_model)")
    B, T, d_model = x.shape
    require_divisible(d_model, num_heads)
    d_head = d_model // num_heads
    x = x.view(B, T, num_heads, d_head)  # (B, T, H, d_head)
    # Heads go before T so that each head is an independent (T, d_head) attention problem.
    return x.transpose(1, 2)  # (B, H, T, d_head)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Exact inverse of :func:`split_heads`: concatenate the heads along the feature axis.

    Args:
        x: ``(B, H, T, d_head)``.

    Returns:
        ``(B, T, H * d_head)``, same dtype and device.

    Equation: Concat(head_1, ..., head_H).

    Taught in: course/04_multihead
    """
    require_ndim(x, "x", 4, "(B, H, T, d_head)")
    B, H, T, d_head = x.shape
    x = x.transpose(1, 2)  # (B, T, H, d_head)
    # transpose() only changes strides; reshape copies into the concatenated layout.
    return x.reshape(B, T, H * d_head)  # (B, T, d_model)


class MultiHeadAttention(nn.Module):
    """H attention heads side by side, each on its own d_head-wide slice of the projections.

    Args:
        d_model: model width.
        num_heads: H; must divide d_model.

    Attributes:
        w_q, w_k, w_v, w_o: ``nn.Linear(d_model, d_model)`` with bias (the lecture's W^Q, W^K, W^V, W^O).
        last_weights: attention weights of the latest forward, detached, ``(B, H, T_q, T_k)``
            (for plots; None before the first call).

    Equation: MultiHead(Q, K, V) = Concat(head_1, ..., head_H) W^O,
    head_h = Attention(Q W^Q_h, K W^K_h, V W^V_h).

    Taught in: course/04_multihead (cross attention: course/05_cross_attention)
    """

    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        require_positive_int(d_model, "d_model")
        require_divisible(d_model, num_heads)
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        # One d_model x d_model matrix per role holds all heads' projections at once;
        # split_heads then hands each head its own d_head columns.
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)
        self.last_weights: torch.Tensor | None = None

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend from ``query`` ``(B, T_q, d_model)`` to ``key``/``value`` ``(B, T_k, d_model)``.

        ``mask``: optional bool broadcastable to ``(B, T_q, T_k)`` (True = may attend), shared by
        all heads. Self-attention is ``mha(x, x, x)``; cross-attention is
        ``mha(decoder_x, encoder_out, encoder_out, src_mask)``. Returns ``(B, T_q, d_model)``.
        """
        require_ndim(query, "query", 3, "(B, T_q, d_model)")
        require_ndim(key, "key", 3, "(B, T_k, d_model)")
        require_ndim(value, "value", 3, "(B, T_k, d_model)")
        q = split_heads(self.w_q(query), self.num_heads)  # (B, H, T_q, d_head)
        k = split_heads(self.w_k(key), self.num_heads)  # (B, H, T_k, d_head)
        v = split_heads(self.w_v(value), self.num_heads)  # (B, H, T_k, d_head)
        if mask is not None:
            require_bool_mask(mask, "mask")
            if mask.dim() > 3:
                raise ValueError(
                    f"mask must be broadcastable to (B, T_q, T_k), got shape {tuple(mask.shape)}"
                )
            if mask.dim() == 3:
                # Insert the head axis so that one mask serves all heads.
                mask = mask.unsqueeze(1)  # (B, 1, T_q, T_k)
        out, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, T_q, d_head), (B, H, T_q, T_k)
        self.last_weights = weights.detach()
        return self.w_o(merge_heads(out))  # (B, T_q, d_model)
