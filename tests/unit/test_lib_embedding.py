"""transformer_reference.embedding: lookups, the positional encoding formula, and the modules."""

from __future__ import annotations

import math

import pytest
import torch

from transformer_reference import numpy_reference as npr
from transformer_reference.embedding import (
    PositionalEncoding,
    TokenEmbedding,
    embedding_lookup,
    one_hot_embedding,
    sinusoidal_positional_encoding,
)
from transformer_reference.output import OutputProjection

pytestmark = [pytest.mark.filterwarnings("error"), pytest.mark.usefixtures("single_threaded_torch")]


def test_lookup_equals_one_hot_times_matrix(dtype, assert_close):
    table = torch.randn(11, 6, dtype=dtype)
    ids = torch.tensor([[0, 3, 10], [3, 3, 1]])
    rows = embedding_lookup(ids, table)
    assert rows.shape == (2, 3, 6) and rows.dtype == dtype
    assert_close(rows, one_hot_embedding(ids, table))
    assert_close(rows, torch.nn.functional.one_hot(ids, 11).to(dtype) @ table)
    assert torch.equal(rows[0, 1], table[3])


def test_lookup_matches_nn_embedding():
    layer = torch.nn.Embedding(7, 4)
    ids = torch.tensor([1, 6, 0])
    torch.testing.assert_close(embedding_lookup(ids, layer.weight), layer(ids))


def test_positional_encoding_formula(assert_close):
    pe = sinusoidal_positional_encoding(50, 16)
    assert pe.shape == (50, 16) and pe.dtype == torch.float32
    for p in (0, 1, 7, 49):
        for i in range(8):
            angle = p / 10000 ** (2 * i / 16)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert_close(pe, npr.sinusoidal_positional_encoding(50, 16))
    assert torch.equal(pe[0, 0::2], torch.zeros(8)) and torch.equal(pe[0, 1::2], torch.ones(8))


def test_positional_encoding_stays_accurate_at_long_positions():
    pe = sinusoidal_positional_encoding(5000, 8)
    torch.testing.assert_close(pe[4999, 0], torch.tensor(math.sin(4999.0)), rtol=0, atol=1e-6)


def test_token_embedding_scales_by_sqrt_d_model(dtype, assert_close):
    emb = TokenEmbedding(10, 16).to(dtype)
    ids = torch.tensor([[1, 2, 9]])
    assert_close(emb(ids), emb.weight[ids] * 4.0)
    unscaled = TokenEmbedding(10, 16, scale=False).to(dtype)
    assert_close(unscaled(ids), unscaled.weight[ids])


def test_token_embedding_weight_can_be_tied_to_the_output():
    emb = TokenEmbedding(10, 16)
    out = OutputProjection(16, 10, tied_weight=emb.weight)
    assert out.weight is emb.weight
    model = torch.nn.ModuleDict({"emb": emb, "out": out})
    assert sum(p.numel() for p in model.parameters()) == 10 * 16 + 10  # shared matrix counted once


def test_positional_encoding_module_adds_the_first_T_rows(dtype, assert_close):
    module = PositionalEncoding(8, max_len=20)
    x = torch.randn(2, 5, 8, dtype=dtype)
    out = module(x)
    assert out.dtype == dtype
    assert_close(out, x + sinusoidal_positional_encoding(5, 8).to(dtype))
    assert "pe" not in module.state_dict()


def test_bad_arguments_raise_value_error_naming_the_argument():
    with pytest.raises(ValueError, match="d_model"):
        sinusoidal_positional_encoding(4, 7)
    with pytest.raises(ValueError, match="seq_len"):
        sinusoidal_positional_encoding(-1, 8)
    with pytest.raises(ValueError, match="token_ids"):
        embedding_lookup(torch.tensor([0.0, 1.0]), torch.randn(3, 2))
    with pytest.raises(ValueError, match="token_ids"):
        one_hot_embedding(torch.tensor([0, 3]), torch.randn(3, 2))
    with pytest.raises(ValueError, match="table"):
        embedding_lookup(torch.tensor([0]), torch.randn(3))
    with pytest.raises(ValueError, match="max_len"):
        PositionalEncoding(8, max_len=4)(torch.randn(1, 5, 8))
    with pytest.raises(ValueError, match="vocab_size"):
        TokenEmbedding(0, 8)
