"""Token embeddings and sinusoidal positional encodings."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import require_integer, require_min_ndim, require_ndim, require_positive_int


def _require_ids_fit_table(token_ids: torch.Tensor, table: torch.Tensor) -> None:
    require_integer(token_ids, "token_ids")
    require_ndim(table, "table", 2, "(V, d_model)")
    if token_ids.numel() and (token_ids.min() < 0 or token_ids.max() >= table.shape[0]):
        raise ValueError(
            f"token_ids must lie in [0, V) with V={table.shape[0]} rows in the table, "
            f"got values from {int(token_ids.min())} to {int(token_ids.max())}"
        )


def embedding_lookup(token_ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Replace every token id by its row of the embedding table.

    Args:
        token_ids: long ``(...)``, values in ``[0, V)``.
        table: ``(V, d_model)`` float32/float64.

    Returns:
        ``(..., d_model)`` in ``table``'s dtype and device.

    Equation: E[id] — row ``id`` of the embedding matrix E.

    Taught in: course/01_embeddings
    """
    _require_ids_fit_table(token_ids, table)
    return table[token_ids]  # (..., d_model)


def one_hot_embedding(token_ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """The same lookup written as a matrix product, one_hot(id) @ E.

    It shows that an embedding is a linear layer applied to one-hot vectors;
    indexing is just the fast way to compute it.

    Args:
        token_ids: long ``(...)``, values in ``[0, V)``.
        table: ``(V, d_model)``.

    Returns:
        ``(..., d_model)`` in ``table``'s dtype and device, equal to :func:`embedding_lookup`.

    Equation: one_hot(id) E, where one_hot(id) is the V-vector with a 1 at ``id``.

    Taught in: course/01_embeddings
    """
    _require_ids_fit_table(token_ids, table)
    one_hot = torch.nn.functional.one_hot(token_ids, num_classes=table.shape[0]).to(table.dtype)  # (..., V)
    return one_hot @ table  # (..., d_model)


def sinusoidal_positional_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """The fixed sine/cosine position signal of "Attention Is All You Need".

    Args:
        seq_len: number of positions (int >= 0); positions start at 0.
        d_model: model width; must be even (features come in sin/cos pairs).

    Returns:
        float32 ``(seq_len, d_model)``.

    Equation: PE[p, 2i] = sin(p / 10000^(2i/d_model)), PE[p, 2i+1] = cos(p / 10000^(2i/d_model)).

    Taught in: course/01_embeddings
    """
    require_positive_int(seq_len, "seq_len", allow_zero=True)
    require_positive_int(d_model, "d_model")
    if d_model % 2 != 0:
        raise ValueError(f"d_model must be even (sin and cos fill pairs of features), got {d_model}")
    # Computed in float64, then rounded once: p / 10000^(2i/d) for p in the
    # thousands loses digits in float32 before sin/cos ever sees it.
    position = torch.arange(seq_len, dtype=torch.float64).unsqueeze(1)  # (seq_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (d_model / 2,)
    angle = position / (10000.0 ** (two_i / d_model))  # (seq_len, d_model / 2)
    pe = torch.empty(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.to(torch.float32)


class TokenEmbedding(nn.Module):
    """Learned embedding table, scaled by sqrt(d_model) as in Vaswani et al.

    Args:
        vocab_size: V.
        d_model: model width.
        scale: multiply the looked-up rows by sqrt(d_model) (default True).

    Attributes:
        weight: the ``(V, d_model)`` table, an ``nn.Parameter`` that
            :class:`~transformer_reference.output.OutputProjection` can share (weight tying).

    forward: long ``(...)`` -> ``(..., d_model)``.

    Equation: Embed(id) = E[id] * sqrt(d_model).

    Taught in: course/01_embeddings
    """

    def __init__(self, vocab_size: int, d_model: int, scale: bool = True) -> None:
        super().__init__()
        require_positive_int(vocab_size, "vocab_size")
        require_positive_int(d_model, "d_model")
        self.d_model = d_model
        self.scale = scale
        # Entries of size 1/sqrt(d_model) keep the logits O(1) when this matrix is
        # reused as the output projection; the sqrt(d_model) factor in forward then
        # brings the embedding back to unit size, comparable to the encoding in [-1, 1].
        std = d_model**-0.5 if scale else 1.0
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * std)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        x = embedding_lookup(token_ids, self.weight)  # (..., d_model)
        return x * math.sqrt(self.d_model) if self.scale else x


class PositionalEncoding(nn.Module):
    """Adds the sinusoidal positional encoding to a batch of embeddings.

    Args:
        d_model: model width (even).
        max_len: longest sequence it accepts.

    forward: ``(B, T, d_model)`` -> ``(B, T, d_model)`` with ``T <= max_len``, in the input's dtype.

    Equation: x + PE[:T].

    Taught in: course/01_embeddings
    """

    def __init__(self, d_model: int, max_len: int) -> None:
        super().__init__()
        require_positive_int(max_len, "max_len")
        self.max_len = max_len
        # A buffer follows .to(device) but is not trained; not persistent because it
        # is recomputed from (d_model, max_len) and need not bloat checkpoints.
        self.register_buffer("pe", sinusoidal_positional_encoding(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        require_min_ndim(x, "x", 2, "(..., T, d_model)")
        T, d_model = x.shape[-2], x.shape[-1]
        if T > self.max_len:
            raise ValueError(f"x has sequence length T={T}, longer than max_len={self.max_len}")
        if d_model != self.pe.shape[1]:
            raise ValueError(f"x must have d_model={self.pe.shape[1]} features last, got shape {tuple(x.shape)}")
        return x + self.pe[:T].to(x.dtype)  # (..., T, d_model)
