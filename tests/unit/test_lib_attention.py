"""transformer_reference.attention against PyTorch, NumPy, and the properties the lecture states."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_reference import numpy_reference as npr
from transformer_reference.attention import (
    MultiHeadAttention,
    causal_mask,
    merge_heads,
    padding_mask,
    scaled_dot_product_attention,
    softmax,
    split_heads,
)

pytestmark = [pytest.mark.filterwarnings("error"), pytest.mark.usefixtures("single_threaded_torch")]
PROPERTIES = settings(max_examples=25, deadline=None, database=None)


def random_mask(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Random bool mask whose every query row allows at least one key (fully masked rows are unspecified)."""
    mask = torch.rand(*shape, generator=generator) < 0.6
    mask[..., 0] = True
    return mask


def qkv(dtype, *, batch=(2, 3), T_q=5, T_k=7, d_k=8, d_v=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*batch, T_q, d_k, generator=g, dtype=dtype)
    k = torch.randn(*batch, T_k, d_k, generator=g, dtype=dtype)
    v = torch.randn(*batch, T_k, d_v, generator=g, dtype=dtype)
    return q, k, v


# --- softmax ------------------------------------------------------------------------------


def test_softmax_matches_torch(dtype, assert_close):
    x = torch.randn(4, 9, dtype=dtype) * 5
    for dim in (-1, 0):
        out = softmax(x, dim=dim)
        assert out.dtype == dtype
        assert_close(out, torch.softmax(x, dim=dim))


@pytest.mark.parametrize("scale", [1e4, -1e4, 3e4])
def test_softmax_is_finite_for_huge_scores(dtype, scale):
    x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]], dtype=dtype) * scale
    out = softmax(x)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.sum(-1), torch.ones(2, dtype=dtype))


def test_softmax_matches_numpy(dtype, assert_close):
    x = torch.randn(3, 4, 5, dtype=dtype)
    assert_close(softmax(x), npr.softmax(x.double().numpy()))


# --- scaled dot-product attention ---------------------------------------------------------


def test_sdpa_matches_torch_without_mask(dtype, assert_close):
    q, k, v = qkv(dtype)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 5, 6) and weights.shape == (2, 3, 5, 7)
    assert out.dtype == weights.dtype == dtype
    assert_close(out, F.scaled_dot_product_attention(q, k, v))
    expected_weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8), dim=-1)
    assert_close(weights, expected_weights)


@pytest.mark.parametrize(
    "mask_shape",
    [(5, 7), (1, 1, 5, 7), (2, 3, 5, 7), (2, 1, 1, 7), (3, 1, 7)],
    ids=["Tq_Tk", "broadcast_all", "full", "per_batch_key_padding", "per_head_keys"],
)
def test_sdpa_matches_torch_with_bool_mask(dtype, assert_close, mask_shape):
    q, k, v = qkv(dtype)
    mask = random_mask(torch.Generator().manual_seed(1), *mask_shape)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    # torch's boolean attn_mask uses the same convention: True = may attend.
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert (weights.masked_select(~mask.expand_as(weights)) == 0).all()


def test_sdpa_causal_matches_torch_is_causal(dtype, assert_close):
    q, k, v = qkv(dtype, T_q=6, T_k=6)
    out, weights = scaled_dot_product_attention(q, k, v, causal_mask(6))
    assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert (weights.triu(diagonal=1) == 0).all()


def test_sdpa_matches_numpy_oracle(dtype, assert_close):
    q, k, v = qkv(dtype)
    mask = random_mask(torch.Generator().manual_seed(2), 5, 7)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    np_out, np_weights = npr.scaled_dot_product_attention(
        q.double().numpy(), k.double().numpy(), v.double().numpy(), mask.numpy()
    )
    assert_close(out, np_out)
    assert_close(weights, np_weights)


def test_sdpa_without_batch_dimensions(dtype, assert_close):
    q, k, v = qkv(dtype, batch=())
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (5, 6) and weights.shape == (5, 7)
    assert_close(out, F.scaled_dot_product_attention(q, k, v))


@pytest.mark.parametrize("magnitude", [1e2, 1e3])
def test_sdpa_is_finite_for_huge_scores(dtype, magnitude):
    q, k, v = qkv(dtype)
    # Entries of size m give scores q.k / sqrt(d_k) of size m^2: 1e4 and 1e6.
    out, weights = scaled_dot_product_attention(
        q * magnitude, k * magnitude, v, random_mask(torch.Generator().manual_seed(3), 5, 7)
    )
    assert torch.isfinite(out).all() and torch.isfinite(weights).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5, dtype=dtype))


def test_fully_masked_row_stays_finite_and_leaves_other_rows_alone(dtype, assert_close):
    q, k, v = qkv(dtype, batch=(2,))
    mask = random_mask(torch.Generator().manual_seed(4), 2, 5, 7)
    mask[0, 2] = False  # query 2 of batch 0 may attend to nothing
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(out).all() and torch.isfinite(weights).all()
    keep = torch.ones(2, 5, dtype=torch.bool)
    keep[0, 2] = False
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close(out[keep], reference[keep])


def test_sdpa_gradcheck_float64():
    q, k, v = (t.requires_grad_() for t in qkv(torch.float64, batch=(2,), T_q=3, T_k=4, d_k=5, d_v=3))
    mask = random_mask(torch.Generator().manual_seed(5), 3, 4)
    assert torch.autograd.gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask), (q, k, v))


def test_sdpa_gradients_match_torch(dtype, assert_close):
    mask = random_mask(torch.Generator().manual_seed(6), 5, 7)
    ours = [t.requires_grad_() for t in qkv(dtype)]
    theirs = [t.detach().clone().requires_grad_() for t in ours]
    upstream = torch.randn(2, 3, 5, 6, dtype=dtype)
    (scaled_dot_product_attention(*ours, mask)[0] * upstream).sum().backward()
    (F.scaled_dot_product_attention(*theirs, attn_mask=mask) * upstream).sum().backward()
    for mine, reference in zip(ours, theirs):
        assert_close(mine.grad, reference.grad)


@given(
    batch=st.integers(1, 3),
    T_q=st.integers(1, 6),
    T_k=st.integers(1, 6),
    d_k=st.integers(1, 8),
    seed=st.integers(0, 2**31 - 1),
)
@PROPERTIES
def test_weights_sum_to_one_and_masked_keys_get_zero(dtype, batch, T_q, T_k, d_k, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, T_q, d_k, generator=g, dtype=dtype)
    k = torch.randn(batch, T_k, d_k, generator=g, dtype=dtype)
    v = torch.randn(batch, T_k, 3, generator=g, dtype=dtype)
    mask = random_mask(g, batch, T_q, T_k)
    _, weights = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(weights.sum(-1), torch.ones(batch, T_q, dtype=dtype))
    assert (weights[~mask] == 0).all()
    assert (weights >= 0).all()


@given(T=st.integers(2, 8), t=st.integers(0, 6), seed=st.integers(0, 2**31 - 1))
@PROPERTIES
def test_causal_output_at_t_ignores_later_tokens(dtype, T, t, seed):
    t = min(t, T - 2)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, T, 4, generator=g, dtype=dtype)
    changed = x.clone()
    changed[:, t + 1 :] = torch.randn(2, T - t - 1, 4, generator=g, dtype=dtype)
    mask = causal_mask(T)
    before, _ = scaled_dot_product_attention(x, x, x, mask)
    after, _ = scaled_dot_product_attention(changed, changed, changed, mask)
    torch.testing.assert_close(after[:, : t + 1], before[:, : t + 1])


@given(scale=st.floats(5e3, 2e4), seed=st.integers(0, 2**31 - 1))
@PROPERTIES
def test_sdpa_finite_for_scores_near_1e4(dtype, scale, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(1, 4, 2, generator=g, dtype=dtype) * math.sqrt(scale)
    k = torch.randn(1, 5, 2, generator=g, dtype=dtype) * math.sqrt(scale)
    v = torch.randn(1, 5, 3, generator=g, dtype=dtype)
    out, weights = scaled_dot_product_attention(q, k, v, random_mask(g, 4, 5))
    assert torch.isfinite(out).all() and torch.isfinite(weights).all()


# --- masks --------------------------------------------------------------------------------


def test_causal_mask_values():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool and mask.shape == (4, 4)
    for i in range(4):
        for j in range(4):
            assert mask[i, j] == (j <= i), f"query {i}, key {j}"
    np.testing.assert_array_equal(mask.numpy(), npr.causal_mask(4))


def test_padding_mask_marks_real_keys_and_broadcasts_over_queries():
    ids = torch.tensor([[5, 6, 0, 0], [7, 0, 8, 0]])
    mask = padding_mask(ids, pad_id=0)
    assert mask.dtype == torch.bool and mask.shape == (2, 1, 4)
    assert mask[:, 0].tolist() == [[True, True, False, False], [True, False, True, False]]
    assert (mask & causal_mask(4)).shape == (2, 4, 4)


# --- heads --------------------------------------------------------------------------------


@given(B=st.integers(1, 3), T=st.integers(1, 5), H=st.integers(1, 4), d_head=st.integers(1, 4))
@PROPERTIES
def test_split_then_merge_is_identity_and_heads_hold_contiguous_features(dtype, B, T, H, d_head):
    x = torch.randn(B, T, H * d_head, dtype=dtype)
    heads = split_heads(x, H)
    assert heads.shape == (B, H, T, d_head) and heads.dtype == dtype
    for h in range(H):
        assert torch.equal(heads[:, h], x[..., h * d_head : (h + 1) * d_head])
    assert torch.equal(merge_heads(heads), x)
    assert torch.equal(split_heads(merge_heads(heads), H), heads)


# --- multi-head attention -----------------------------------------------------------------


def copy_into_torch_mha(ours: MultiHeadAttention, theirs: torch.nn.MultiheadAttention) -> None:
    """nn.MultiheadAttention stacks W_q, W_k, W_v into in_proj_weight (3 * d_model, d_model)."""
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
        theirs.out_proj.weight.copy_(ours.w_o.weight)
        theirs.out_proj.bias.copy_(ours.w_o.bias)


def mha_pair(dtype, d_model=12, num_heads=3):
    torch.manual_seed(0)
    ours = MultiHeadAttention(d_model, num_heads).to(dtype)
    theirs = torch.nn.MultiheadAttention(d_model, num_heads, batch_first=True).to(dtype)
    copy_into_torch_mha(ours, theirs)
    return ours, theirs


def test_mha_layout():
    mha = MultiHeadAttention(16, 4)
    for name in ("w_q", "w_k", "w_v", "w_o"):
        layer = getattr(mha, name)
        assert isinstance(layer, torch.nn.Linear) and layer.weight.shape == (16, 16) and layer.bias is not None
    assert sum(p.numel() for p in mha.parameters()) == 4 * (16 * 16 + 16)


def test_mha_self_attention_matches_torch(dtype, assert_close):
    ours, theirs = mha_pair(dtype)
    x = torch.randn(2, 5, 12, dtype=dtype)
    out = ours(x, x, x)
    assert out.shape == (2, 5, 12) and out.dtype == dtype
    expected, expected_weights = theirs(x, x, x, average_attn_weights=False)
    assert_close(out, expected)
    assert_close(ours.last_weights, expected_weights)
    assert not ours.last_weights.requires_grad


def test_mha_causal_self_attention_matches_torch(dtype, assert_close):
    ours, theirs = mha_pair(dtype)
    x = torch.randn(2, 5, 12, dtype=dtype)
    # nn.MultiheadAttention's boolean attn_mask means the opposite: True = blocked.
    expected, _ = theirs(x, x, x, attn_mask=~causal_mask(5))
    assert_close(ours(x, x, x, causal_mask(5)), expected)


def test_mha_cross_attention_with_padding_matches_torch(dtype, assert_close):
    ours, theirs = mha_pair(dtype)
    decoder_x = torch.randn(2, 4, 12, dtype=dtype)
    memory = torch.randn(2, 6, 12, dtype=dtype)
    src = torch.tensor([[3, 4, 5, 6, 0, 0], [3, 4, 0, 0, 0, 0]])
    out = ours(decoder_x, memory, memory, padding_mask(src, 0))
    assert out.shape == (2, 4, 12)
    expected, _ = theirs(decoder_x, memory, memory, key_padding_mask=src == 0)
    assert_close(out, expected)
    assert (ours.last_weights[..., 4:] == 0).all()


def test_mha_gradients_match_torch(assert_close):
    ours, theirs = mha_pair(torch.float64)
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    ours(x, x, x, causal_mask(5)).square().sum().backward()
    theirs(x, x, x, attn_mask=~causal_mask(5))[0].square().sum().backward()
    d = 12
    assert_close(ours.w_q.weight.grad, theirs.in_proj_weight.grad[:d])
    assert_close(ours.w_k.weight.grad, theirs.in_proj_weight.grad[d : 2 * d])
    assert_close(ours.w_v.weight.grad, theirs.in_proj_weight.grad[2 * d :])
    assert_close(ours.w_o.weight.grad, theirs.out_proj.weight.grad)


def test_mha_uses_the_library_building_blocks(monkeypatch):
    """The reference shows the pieces students built, rather than hiding them in one fused call."""
    import transformer_reference.attention as attention

    calls = []

    def spy(name):
        original = getattr(attention, name)

        def wrapper(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)

        return wrapper

    for name in ("scaled_dot_product_attention", "split_heads", "merge_heads"):
        monkeypatch.setattr(attention, name, spy(name))
    x = torch.randn(1, 3, 8)
    MultiHeadAttention(8, 2)(x, x, x)
    assert sorted(calls) == ["merge_heads", "scaled_dot_product_attention"] + ["split_heads"] * 3


@given(T=st.integers(2, 6), seed=st.integers(0, 2**31 - 1))
@PROPERTIES
def test_self_attention_without_positions_is_permutation_equivariant(T, seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mha = MultiHeadAttention(8, 2).double()
    x = torch.randn(1, T, 8, generator=g, dtype=torch.float64)
    perm = torch.randperm(T, generator=g)
    torch.testing.assert_close(mha(x[:, perm], x[:, perm], x[:, perm]), mha(x, x, x)[:, perm])


# --- bad arguments ------------------------------------------------------------------------


def test_bad_arguments_raise_value_error_naming_the_argument():
    q, k, v = qkv(torch.float32)
    with pytest.raises(ValueError, match="q"):
        scaled_dot_product_attention(torch.randn(4), k, v)
    with pytest.raises(ValueError, match="k"):
        scaled_dot_product_attention(q, torch.randn(2, 3, 7, 5), v)
    with pytest.raises(ValueError, match="v"):
        scaled_dot_product_attention(q, k, torch.randn(2, 3, 4, 6))
    with pytest.raises(ValueError, match="mask"):
        scaled_dot_product_attention(q, k, v, torch.ones(5, 7))
    with pytest.raises(ValueError, match="mask"):
        scaled_dot_product_attention(q, k, v, torch.ones(7, 5, dtype=torch.bool))  # (T_k, T_q): transposed
    with pytest.raises(ValueError, match="num_heads"):
        split_heads(torch.randn(2, 3, 10), 3)
    with pytest.raises(ValueError, match="x"):
        split_heads(torch.randn(3, 12), 3)
    with pytest.raises(ValueError, match="x"):
        merge_heads(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="query"):
        MultiHeadAttention(8, 2)(torch.randn(3, 8), torch.randn(1, 3, 8), torch.randn(1, 3, 8))
    with pytest.raises(ValueError, match="seq_len"):
        causal_mask(0)
    with pytest.raises(ValueError, match="token_ids"):
        padding_mask(torch.tensor([1, 2, 0]), 0)
