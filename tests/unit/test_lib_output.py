"""transformer_reference.output: projection, temperature softmax and sampling."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_reference import numpy_reference as npr
from transformer_reference.output import OutputProjection, sample_next_token, softmax_with_temperature

pytestmark = [pytest.mark.filterwarnings("error"), pytest.mark.usefixtures("single_threaded_torch")]
PROPERTIES = settings(max_examples=25, deadline=None, database=None)


def test_output_projection_is_x_w_transpose_plus_b(dtype, assert_close):
    proj = OutputProjection(6, 11).to(dtype)
    x = torch.randn(2, 3, 6, dtype=dtype)
    logits = proj(x)
    assert logits.shape == (2, 3, 11) and logits.dtype == dtype
    assert_close(logits, torch.nn.functional.linear(x, proj.weight, proj.bias))


@pytest.mark.parametrize("temperature", [0.1, 1.0, 3.0])
def test_softmax_with_temperature_matches_torch_and_numpy(dtype, assert_close, temperature):
    logits = torch.randn(3, 4, 9, dtype=dtype) * 3
    probs = softmax_with_temperature(logits, temperature)
    assert probs.dtype == dtype
    assert_close(probs, torch.softmax(logits / temperature, dim=-1))
    assert_close(probs, npr.softmax_with_temperature(logits.double().numpy(), temperature))


@given(temperature=st.floats(1e-30, 1e-3), scale=st.floats(1.0, 1e4), seed=st.integers(0, 2**31 - 1))
@PROPERTIES
def test_small_temperature_approaches_argmax_and_stays_finite(dtype, temperature, scale, seed):
    g = torch.Generator().manual_seed(seed)
    # Distinct logits at least 1 apart, so the argmax is unique and T = 1e-3 already decides it.
    logits = torch.randperm(10, generator=g).to(dtype) * scale
    probs = softmax_with_temperature(logits, temperature)
    assert torch.isfinite(probs).all()
    torch.testing.assert_close(probs, torch.nn.functional.one_hot(logits.argmax(), 10).to(dtype))


@pytest.mark.parametrize("temperature", [1e6, 1e9])
def test_large_temperature_approaches_uniform(dtype, temperature):
    logits = torch.randn(4, 10, dtype=dtype) * 10
    probs = softmax_with_temperature(logits, temperature)
    torch.testing.assert_close(probs, torch.full_like(probs, 0.1), rtol=0, atol=1e-4)


def test_temperature_zero_is_greedy():
    logits = torch.randn(3, 5, 20)
    tokens = sample_next_token(logits, temperature=0)
    assert tokens.dtype == torch.long and tokens.shape == (3, 5)
    assert torch.equal(tokens, logits.argmax(-1))


def test_same_seeded_generator_gives_the_same_draws(dtype):
    logits = torch.randn(4, 3, 12, dtype=dtype)
    first = sample_next_token(logits, 1.5, torch.Generator().manual_seed(7))
    second = sample_next_token(logits, 1.5, torch.Generator().manual_seed(7))
    assert first.shape == (4, 3) and first.dtype == torch.long
    assert torch.equal(first, second)


def test_single_row_of_logits_gives_a_scalar():
    token = sample_next_token(torch.tensor([0.0, 50.0, 0.0]), generator=torch.Generator().manual_seed(0))
    assert token.shape == () and token.item() == 1


def test_draw_frequencies_follow_the_tempered_distribution():
    logits = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64))
    n = 20_000
    for temperature in (1.0, 2.0):
        draws = sample_next_token(logits.expand(n, 4), temperature, torch.Generator().manual_seed(0))
        freq = torch.bincount(draws, minlength=4).double() / n
        expected = softmax_with_temperature(logits, temperature)
        # Four standard errors of a frequency with n draws: sqrt(p (1 - p) / n) <= 0.0036.
        torch.testing.assert_close(freq, expected, rtol=0, atol=0.015)


def test_bad_arguments_raise_value_error_naming_the_argument():
    logits = torch.randn(2, 5)
    for bad in (0, 0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="temperature"):
            softmax_with_temperature(logits, bad)
    with pytest.raises(ValueError, match="temperature"):
        sample_next_token(logits, -0.5)
    with pytest.raises(ValueError, match="logits"):
        softmax_with_temperature(torch.tensor(1.0), 1.0)
    with pytest.raises(ValueError, match="tied_weight"):
        OutputProjection(4, 10, tied_weight=torch.nn.Parameter(torch.randn(4, 10)))
