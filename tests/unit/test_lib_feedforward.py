"""transformer_reference.feedforward: the position-wise FFN and the top-k mixture of experts."""

from __future__ import annotations

import pytest
import torch

from transformer_reference.feedforward import FeedForward, MixtureOfExperts

pytestmark = [pytest.mark.filterwarnings("error"), pytest.mark.usefixtures("single_threaded_torch")]


def test_feed_forward_is_linear_relu_linear(dtype, assert_close):
    ff = FeedForward(6, 24).to(dtype)
    assert ff.linear1.weight.shape == (24, 6) and ff.linear2.weight.shape == (6, 24)
    x = torch.randn(2, 3, 6, dtype=dtype)
    expected = torch.relu(x @ ff.linear1.weight.T + ff.linear1.bias) @ ff.linear2.weight.T + ff.linear2.bias
    out = ff(x)
    assert out.dtype == dtype
    assert_close(out, expected)


def test_feed_forward_acts_on_each_position_separately(assert_close):
    ff = FeedForward(4, 8).double()
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    assert_close(ff(x)[:, 2], ff(x[:, 2]))


def test_moe_with_all_experts_is_the_router_weighted_average(dtype, assert_close):
    moe = MixtureOfExperts(6, 12, num_experts=3, top_k=3).to(dtype)
    x = torch.randn(2, 4, 6, dtype=dtype)
    probs = torch.softmax(moe.router(x), dim=-1)  # (2, 4, 3)
    expected = sum(probs[..., e : e + 1] * moe.experts[e](x) for e in range(3))
    out = moe(x)
    assert out.shape == x.shape and out.dtype == dtype
    assert_close(out, expected)


def test_moe_with_equal_router_scores_is_the_plain_average(assert_close):
    moe = MixtureOfExperts(6, 12, num_experts=4, top_k=4).double()
    with torch.no_grad():
        moe.router.weight.zero_()
        moe.router.bias.zero_()
    x = torch.randn(5, 6, dtype=torch.float64)
    assert_close(moe(x), sum(expert(x) for expert in moe.experts) / 4)


def test_moe_output_uses_only_the_chosen_experts(assert_close):
    torch.manual_seed(0)
    moe = MixtureOfExperts(6, 12, num_experts=4, top_k=2).double()
    x = torch.randn(7, 6, dtype=torch.float64)
    before = moe(x)
    top_p, top_e = torch.softmax(moe.router(x), dim=-1).topk(2, dim=-1)
    top_p = top_p / top_p.sum(-1, keepdim=True)
    for n in range(7):
        expected = sum(top_p[n, s] * moe.experts[int(top_e[n, s])](x[n]) for s in range(2))
        assert_close(before[n], expected)
    assert moe.last_expert_counts.dtype == torch.long
    assert moe.last_expert_counts.tolist() == torch.bincount(top_e.flatten(), minlength=4).tolist()
    assert int(moe.last_expert_counts.sum()) == 7 * 2

    # Changing an expert changes exactly the positions that chose it.
    with torch.no_grad():
        for p in moe.experts[0].parameters():
            p.add_(1.0)
    after = moe(x)
    chose_0 = (top_e == 0).any(-1)
    assert_close(after[~chose_0], before[~chose_0])
    assert not torch.allclose(after[chose_0], before[chose_0])


def test_moe_experts_nobody_chose_do_no_work():
    moe = MixtureOfExperts(4, 8, num_experts=3, top_k=1)
    with torch.no_grad():
        moe.router.weight.zero_()
        moe.router.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))  # every position picks expert 1
    called = []
    for e, expert in enumerate(moe.experts):
        expert.register_forward_hook(lambda module, args, out, e=e: called.append(e))
    moe(torch.randn(3, 4))
    assert called == [1]
    assert moe.last_expert_counts.tolist() == [0, 3, 0]


def test_moe_gradients_reach_router_and_chosen_experts():
    moe = MixtureOfExperts(4, 8, num_experts=3, top_k=2)
    moe(torch.randn(5, 4)).sum().backward()
    assert moe.router.weight.grad is not None and moe.router.weight.grad.abs().sum() > 0


def test_bad_arguments_raise_value_error_naming_the_argument():
    with pytest.raises(ValueError, match="top_k"):
        MixtureOfExperts(4, 8, num_experts=2, top_k=3)
    with pytest.raises(ValueError, match="top_k"):
        MixtureOfExperts(4, 8, num_experts=2, top_k=0)
    with pytest.raises(ValueError, match="num_experts"):
        MixtureOfExperts(4, 8, num_experts=0, top_k=1)
    with pytest.raises(ValueError, match="d_ff"):
        FeedForward(4, 0)
    with pytest.raises(ValueError, match="x"):
        MixtureOfExperts(4, 8, num_experts=2, top_k=1)(torch.randn(3, 5))
