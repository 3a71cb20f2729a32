"""transformer_reference.blocks against nn.TransformerEncoderLayer / nn.TransformerDecoderLayer with copied weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from transformer_reference.attention import MultiHeadAttention, causal_mask, padding_mask
from transformer_reference.blocks import DecoderBlock, EncoderBlock
from transformer_reference.feedforward import FeedForward
from transformer_reference.norm import LayerNorm

pytestmark = [pytest.mark.filterwarnings("error"), pytest.mark.usefixtures("single_threaded_torch")]

D_MODEL, HEADS, D_FF = 12, 3, 20


def copy_attention(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    """nn.MultiheadAttention stacks W_q, W_k, W_v into in_proj_weight (3 * d_model, d_model)."""
    w_q, w_k, w_v = theirs.in_proj_weight.chunk(3)
    b_q, b_k, b_v = theirs.in_proj_bias.chunk(3)
    for layer, weight, bias in ((ours.w_q, w_q, b_q), (ours.w_k, w_k, b_k), (ours.w_v, w_v, b_v)):
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    ours.w_o.weight.copy_(theirs.out_proj.weight)
    ours.w_o.bias.copy_(theirs.out_proj.bias)


def copy_feed_forward_and_norms(ours: nn.Module, theirs: nn.Module, norms: list[str]) -> None:
    ours.feed_forward.linear1.load_state_dict(theirs.linear1.state_dict())
    ours.feed_forward.linear2.load_state_dict(theirs.linear2.state_dict())
    for name in norms:
        getattr(ours, name).load_state_dict(getattr(theirs, name).state_dict())


def randomise_norms(layer: nn.Module) -> None:
    """nn.LayerNorm starts at gamma=1, beta=0, which would hide a swapped gamma/beta."""
    for module in layer.modules():
        if isinstance(module, nn.LayerNorm):
            module.weight.normal_()
            module.bias.normal_()


@torch.no_grad()
def encoder_pair(dtype, norm_first):
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(
        D_MODEL, HEADS, D_FF, dropout=0.0, activation="relu", batch_first=True, norm_first=norm_first
    ).to(dtype)
    randomise_norms(theirs)
    ours = EncoderBlock(D_MODEL, HEADS, D_FF, norm_first=norm_first).to(dtype)
    copy_attention(ours.self_attn, theirs.self_attn)
    copy_feed_forward_and_norms(ours, theirs, ["norm1", "norm2"])
    return ours, theirs


@torch.no_grad()
def decoder_pair(dtype, norm_first):
    torch.manual_seed(0)
    theirs = nn.TransformerDecoderLayer(
        D_MODEL, HEADS, D_FF, dropout=0.0, activation="relu", batch_first=True, norm_first=norm_first
    ).to(dtype)
    randomise_norms(theirs)
    ours = DecoderBlock(D_MODEL, HEADS, D_FF, norm_first=norm_first).to(dtype)
    copy_attention(ours.self_attn, theirs.self_attn)
    copy_attention(ours.cross_attn, theirs.multihead_attn)
    copy_feed_forward_and_norms(ours, theirs, ["norm1", "norm2", "norm3"])
    return ours, theirs


def test_block_layout():
    enc = EncoderBlock(D_MODEL, HEADS, D_FF)
    dec = DecoderBlock(D_MODEL, HEADS, D_FF)
    assert isinstance(enc.self_attn, MultiHeadAttention) and isinstance(enc.feed_forward, FeedForward)
    assert all(isinstance(getattr(enc, n), LayerNorm) for n in ("norm1", "norm2"))
    assert isinstance(dec.cross_attn, MultiHeadAttention)
    assert all(isinstance(getattr(dec, n), LayerNorm) for n in ("norm1", "norm2", "norm3"))
    assert enc.norm_first is False and dec.norm_first is False  # the lecture's post-norm is the default
    assert not any(isinstance(m, nn.Dropout) for m in [*enc.modules(), *dec.modules()])


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_encoder_block_matches_torch(dtype, assert_close, norm_first):
    ours, theirs = encoder_pair(dtype, norm_first)
    x = torch.randn(2, 5, D_MODEL, dtype=dtype)
    src = torch.tensor([[4, 5, 6, 0, 0], [4, 5, 6, 7, 8]])
    out = ours(x, padding_mask(src, 0))
    assert out.shape == x.shape and out.dtype == dtype
    # torch's masks mean the opposite of ours: True = ignore this key.
    assert_close(out, theirs(x, src_key_padding_mask=src == 0))
    assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_decoder_block_matches_torch(dtype, assert_close, norm_first):
    ours, theirs = decoder_pair(dtype, norm_first)
    x = torch.randn(2, 4, D_MODEL, dtype=dtype)
    memory = torch.randn(2, 6, D_MODEL, dtype=dtype)
    src = torch.tensor([[3, 4, 5, 6, 0, 0], [3, 4, 5, 6, 7, 8]])
    out = ours(x, memory, tgt_mask=causal_mask(4), memory_mask=padding_mask(src, 0))
    assert out.shape == x.shape and out.dtype == dtype
    expected = theirs(x, memory, tgt_mask=~causal_mask(4), memory_key_padding_mask=src == 0)
    assert_close(out, expected)


def test_decoder_block_gradients_match_torch(assert_close):
    ours, theirs = decoder_pair(torch.float64, norm_first=False)
    x = torch.randn(2, 4, D_MODEL, dtype=torch.float64)
    memory = torch.randn(2, 6, D_MODEL, dtype=torch.float64)
    ours(x, memory, causal_mask(4)).square().sum().backward()
    theirs(x, memory, tgt_mask=~causal_mask(4)).square().sum().backward()
    assert_close(ours.feed_forward.linear1.weight.grad, theirs.linear1.weight.grad)
    assert_close(ours.norm1.weight.grad, theirs.norm1.weight.grad)
    assert_close(ours.cross_attn.w_o.weight.grad, theirs.multihead_attn.out_proj.weight.grad)
