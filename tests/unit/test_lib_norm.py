"""transformer_reference.norm against torch.nn.functional.layer_norm, nn.LayerNorm and NumPy."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from transformer_reference import numpy_reference as npr
from transformer_reference.norm import LayerNorm, ResidualNorm, add_and_norm, layer_norm

pytestmark = [pytest.mark.filterwarnings("error"), pytest.mark.usefixtures("single_threaded_torch")]


def inputs(dtype, shape=(2, 3, 8), seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=dtype) * 3 + 1
    gamma = torch.randn(shape[-1], generator=g, dtype=dtype)
    beta = torch.randn(shape[-1], generator=g, dtype=dtype)
    return x, gamma, beta


@pytest.mark.parametrize("shape", [(8,), (5, 8), (2, 3, 8), (2, 1, 3, 4)])
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_layer_norm_matches_torch(dtype, assert_close, shape, eps):
    x, gamma, beta = inputs(dtype, shape)
    out = layer_norm(x, gamma, beta, eps)
    assert out.dtype == dtype and out.shape == x.shape
    assert_close(out, F.layer_norm(x, x.shape[-1:], gamma, beta, eps))


def test_layer_norm_matches_numpy(dtype, assert_close):
    x, gamma, beta = inputs(dtype)
    expected = npr.layer_norm(x.double().numpy(), gamma.double().numpy(), beta.double().numpy())
    assert_close(layer_norm(x, gamma, beta), expected)


def test_layer_norm_uses_biased_variance_and_eps_inside_the_root(assert_close):
    # Features [0, 2]: mean 1, biased variance 1 (unbiased would be 2).
    x = torch.tensor([[0.0, 2.0]], dtype=torch.float64)
    out = layer_norm(x, torch.ones(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64), eps=3.0)
    assert_close(out, torch.tensor([[-0.5, 0.5]], dtype=torch.float64))  # 1 / sqrt(1 + 3)


def test_layer_norm_module_matches_nn_layer_norm(dtype, assert_close):
    ours = LayerNorm(8).to(dtype)
    theirs = torch.nn.LayerNorm(8).to(dtype)
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
    ours.load_state_dict(theirs.state_dict())  # same parameter names: weight, bias
    x, _, _ = inputs(dtype)
    assert_close(ours(x), theirs(x))


def test_layer_norm_gradcheck_float64():
    x, gamma, beta = (t.requires_grad_() for t in inputs(torch.float64, (2, 5)))
    assert torch.autograd.gradcheck(layer_norm, (x, gamma, beta))


def test_layer_norm_gradients_match_torch(dtype, assert_close):
    ours = [t.requires_grad_() for t in inputs(dtype)]
    theirs = [t.detach().clone().requires_grad_() for t in ours]
    upstream = torch.randn(2, 3, 8, dtype=dtype)
    (layer_norm(*ours) * upstream).sum().backward()
    (F.layer_norm(theirs[0], (8,), theirs[1], theirs[2]) * upstream).sum().backward()
    for mine, reference in zip(ours, theirs):
        assert_close(mine.grad, reference.grad)


def test_add_and_norm_is_post_norm(dtype, assert_close):
    x, gamma, beta = inputs(dtype)
    sublayer_out = torch.randn_like(x)
    assert_close(add_and_norm(x, sublayer_out, gamma, beta), F.layer_norm(x + sublayer_out, (8,), gamma, beta))


@pytest.mark.parametrize("norm_first", [False, True])
def test_residual_norm_orders(dtype, assert_close, norm_first):
    block = ResidualNorm(8, norm_first=norm_first).to(dtype)
    with torch.no_grad():
        block.norm.weight.normal_()
        block.norm.bias.normal_()
    x, _, _ = inputs(dtype)
    sublayer = torch.nn.Linear(8, 8).to(dtype)
    ln = lambda t: F.layer_norm(t, (8,), block.norm.weight, block.norm.bias)  # noqa: E731
    expected = x + sublayer(ln(x)) if norm_first else ln(x + sublayer(x))
    assert_close(block(x, sublayer), expected)


def test_bad_arguments_raise_value_error_naming_the_argument():
    x, gamma, beta = inputs(torch.float32)
    with pytest.raises(ValueError, match="gamma"):
        layer_norm(x, torch.ones(7), beta)
    with pytest.raises(ValueError, match="beta"):
        layer_norm(x, gamma, torch.zeros(1, 8))
    with pytest.raises(ValueError, match="x"):
        layer_norm(torch.tensor(1.0), gamma, beta)
    with pytest.raises(ValueError, match="x"):
        layer_norm(torch.ones(2, 8, dtype=torch.long), gamma, beta)
    with pytest.raises(ValueError, match="sublayer_out"):
        add_and_norm(x, x[:, :1], gamma, beta)
    with pytest.raises(ValueError, match="d_model"):
        LayerNorm(0)
