"""NumPy float64 versions of the core formulas: a first reading, and an independent oracle for tests.

Same shapes and conventions as the torch modules (masks: True = may attend), without
argument checks, batching tricks or autograd. Arrays in, float64 arrays out.
"""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x - max) / sum exp(x - max) along ``axis``.

    Taught in: course/02_attention
    """
    x = np.asarray(x, dtype=np.float64)
    exps = np.exp(x - x.max(axis=axis, keepdims=True))
    return exps / exps.sum(axis=axis, keepdims=True)


def softmax_with_temperature(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) over the last axis, T > 0.

    Taught in: course/07_output
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = np.asarray(logits, dtype=np.float64)
    return softmax((logits - logits.max(axis=-1, keepdims=True)) / temperature, axis=-1)


def sinusoidal_positional_encoding(seq_len: int, d_model: int) -> np.ndarray:
    """PE[p, 2i] = sin(p / 10000^(2i/d_model)), PE[p, 2i+1] = cos(...); shape (seq_len, d_model).

    Taught in: course/01_embeddings
    """
    if d_model % 2 != 0:
        raise ValueError(f"d_model must be even, got {d_model}")
    pe = np.zeros((seq_len, d_model))
    for p in range(seq_len):
        for i in range(d_model // 2):
            angle = p / 10000 ** (2 * i / d_model)
            pe[p, 2 * i] = np.sin(angle)
            pe[p, 2 * i + 1] = np.cos(angle)
    return pe


def causal_mask(seq_len: int) -> np.ndarray:
    """bool (T, T), True where key j <= query i.

    Taught in: course/03_masking
    """
    return np.tril(np.ones((seq_len, seq_len), dtype=bool))


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q kᵀ / sqrt(d_k)) v -> (output (..., T_q, d_v), weights (..., T_q, T_k)).

    Taught in: course/02_attention
    """
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])  # (..., T_q, T_k)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)  # exp(-inf) = 0: masked keys get no weight
    weights = softmax(scores, axis=-1)
    return weights @ v, weights


def layer_norm(x, gamma, beta, eps: float = 1e-5) -> np.ndarray:
    """gamma * (x - mean) / sqrt(var + eps) + beta over the last axis, biased variance.

    Taught in: course/06_add_norm
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)  # ddof=0: the biased variance, like nn.LayerNorm
    return gamma * (x - mean) / np.sqrt(var + eps) + beta
