"""Encoder and decoder blocks: attention and feed-forward sublayers, each inside Add & Norm.

No dropout anywhere, so with equal weights a block equals ``nn.TransformerEncoderLayer`` /
``nn.TransformerDecoderLayer`` built with ``dropout=0.0, activation="relu", batch_first=True``
and the same ``norm_first``.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import MultiHeadAttention
from .feedforward import FeedForward
from .norm import LayerNorm, residual


class EncoderBlock(nn.Module):
    """Self-attention then feed-forward, each wrapped in a residual connection and layer norm.

    Args:
        d_model: model width; num_heads: H (divides d_model); d_ff: feed-forward hidden width.
        norm_first: False (default) = the lecture's post-norm, True = pre-norm
            (see :func:`~transformer_reference.norm.residual`).

    Attributes: ``self_attn`` (:class:`MultiHeadAttention`), ``feed_forward`` (:class:`FeedForward`),
    ``norm1``, ``norm2`` (:class:`LayerNorm`).

    forward(x ``(B, T, d_model)``, src_mask bool broadcastable to ``(B, T, T)`` or None)
    -> ``(B, T, d_model)``.

    Equation (post-norm): x = LN_1(x + MHA(x, x, x)); x = LN_2(x + FFN(x)).

    Taught in: course/06_add_norm (assembled in course/08_capstone)
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, norm_first: bool = False) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.feed_forward = FeedForward(d_model, d_ff)
        self.norm1 = LayerNorm(d_model)
        self.norm2 = LayerNorm(d_model)
        self.norm_first = norm_first

    def forward(self, x: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = residual(x, lambda h: self.self_attn(h, h, h, src_mask), self.norm1, self.norm_first)
        return residual(x, self.feed_forward, self.norm2, self.norm_first)  # (B, T, d_model)


class DecoderBlock(nn.Module):
    """Masked self-attention, cross-attention to the encoder output, then feed-forward; each in Add & Norm.

    Args: as :class:`EncoderBlock`.

    Attributes: ``self_attn``, ``cross_attn`` (:class:`MultiHeadAttention`), ``feed_forward``,
    ``norm1``, ``norm2``, ``norm3``.

    forward(x ``(B, T, d_model)``, memory ``(B, S, d_model)`` (the encoder output),
    tgt_mask bool broadcastable to ``(B, T, T)`` (usually causal and padding),
    memory_mask bool broadcastable to ``(B, T, S)`` (usually source padding)) -> ``(B, T, d_model)``.

    Equation (post-norm): x = LN_1(x + MHA(x, x, x)); x = LN_2(x + MHA(x, memory, memory));
    x = LN_3(x + FFN(x)). In cross-attention the decoder asks (queries) and the encoder
    output answers (keys and values).

    Taught in: course/07_output
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, norm_first: bool = False) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.cross_attn = MultiHeadAttention(d_model, num_heads)
        self.feed_forward = FeedForward(d_model, d_ff)
        self.norm1 = LayerNorm(d_model)
        self.norm2 = LayerNorm(d_model)
        self.norm3 = LayerNorm(d_model)
        self.norm_first = norm_first

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = residual(x, lambda h: self.self_attn(h, h, h, tgt_mask), self.norm1, self.norm_first)
        x = residual(x, lambda h: self.cross_attn(h, memory, memory, memory_mask), self.norm2, self.norm_first)
        return residual(x, self.feed_forward, self.norm3, self.norm_first)  # (B, T, d_model)
