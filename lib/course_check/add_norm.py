"""Checks for 06_add_norm: layer norm, Add & Norm, the feed-forward network, mixture of experts.

Expected values come from small float64 oracles written here with basic operations (mean,
square root, matmul), never from the student's code and never through the ready-made layer norm.
Every comparison names the mistake the output matches (`mistakes=`).

Each exercise is graded on its own: while `add_and_norm` runs, the notebook's `layer_norm` is
replaced by this module's oracle, and `MixtureOfExperts` is checked with experts built here
(`linear1`/`linear2` with seeded weights), so a mistake in `layer_norm` or `FeedForward` costs
points only once. Every call also checks that the student's code left its input tensors
unchanged, and a module that inherits from the course's reference class is refused like a call.
"""

from __future__ import annotations

import math

import torch
from torch import nn

import transformer_reference
from course_check.common import (
    cases,
    DTYPES,
    DelegationError,
    _getattr,
    _isinstance,
    _issubclass,
    check,
    distinct,
    expect_close,
    expect_tensor,
    grade_alone,
    load_weights,
    no_delegation,
    pure,
    randn,
    refuse_delegation,
)



# The notebook's own earlier helpers each exercise is graded without (`grade_alone` swaps in
# correct ones), so a mistake in a helper costs points only in the helper's own tests.
STAND_INS = {"add_and_norm": ("layer_norm",)}


# ---------------------------------------------------------------------------------------------
# Oracles (float64, basic operations) and the outputs of common mistakes.
# ---------------------------------------------------------------------------------------------
def _normalise(x, dims=(-1,), correction=0, eps=1e-5, eps_mode="inside"):
    """(x - mean) / sqrt(var + eps) over `dims`; the variants reproduce mistakes."""
    mean = x.mean(dim=dims, keepdim=True)
    centred = x - mean
    n = math.prod(x.shape[d] for d in dims)
    var = (centred * centred).sum(dim=dims, keepdim=True) / (n - correction)
    if eps_mode == "inside":
        return centred / torch.sqrt(var + eps)
    if eps_mode == "std":  # sqrt(var) + eps
        return centred / (torch.sqrt(var) + eps)
    if eps_mode == "no_sqrt":  # divided by the variance
        return centred / (var + eps)
    raise ValueError(eps_mode)


def _ln(x, gamma, beta, eps=1e-5, **variant):
    """Layer norm in float64, returned in x's dtype."""
    x64, g64, b64 = x.double(), gamma.double(), beta.double()
    return (_normalise(x64, eps=eps, **variant) * g64 + b64).to(x.dtype)


def _layer_norm_oracle(x, gamma, beta, eps=1e-5):
    """Stand-in for the notebook's layer_norm while add_and_norm is graded (same contract)."""
    return _ln(x, gamma, beta, eps)


def _expect_layer_norm(run, x, gamma, beta, what: str) -> None:
    """run(x, gamma, beta) equals the float64 layer norm, or the message names the mistake."""
    expect_close(run(x, gamma, beta), _ln(x, gamma, beta), what, mistakes=_layer_norm_mistakes(x, gamma, beta))


def _layer_norm_mistakes(x, gamma, beta, eps=1e-5) -> dict:
    x64, g, b = x.double(), gamma.double(), beta.double()
    hat = _normalise(x64, eps=eps)
    out = {}
    if x.dim() >= 2:
        out["you normalised over the first axis (across the batch) instead of over the last axis "
            "(the d_model features of each token): use dim=-1"] = _normalise(x64, dims=(0,), eps=eps) * g + b
        out["you normalised over all axes at once instead of over the last axis of each token"] = (
            _normalise(x64, dims=tuple(range(x.dim())), eps=eps) * g + b
        )
    if x.dim() >= 3:
        out["you normalised over the sequence axis (-2) instead of over the last axis (the features)"] = (
            _normalise(x64, dims=(-2,), eps=eps) * g + b
        )
    out.update({
        "you used the unbiased variance (dividing by d_model - 1); layer norm uses the biased one, "
        "dividing by d_model (torch.var(..., unbiased=False) or correction=0)": _normalise(x64, correction=1, eps=eps) * g + b,
        "gamma and beta are swapped: gamma is the scale (multiply), beta the shift (add)": hat * b + g,
        "beta is missing: add the shift beta after scaling by gamma": hat * g,
        "gamma is missing: multiply by the scale gamma before adding beta": hat + b,
        "gamma and beta are both missing": hat,
        "you added eps to the standard deviation (sqrt(var) + eps); eps belongs inside the square root, "
        "sqrt(var + eps)": _normalise(x64, eps=eps, eps_mode="std") * g + b,
        "you divided by the variance instead of its square root (the standard deviation)":
            _normalise(x64, eps=eps, eps_mode="no_sqrt") * g + b,
        "you ignored eps (it must be added to the variance inside the square root)": _normalise(x64, eps=0.0) * g + b,
    })
    if eps != 1e-5:
        out["you used eps=1e-5 whatever eps was passed: use the eps argument"] = _normalise(x64, eps=1e-5) * g + b
    return distinct({k: v.to(x.dtype) for k, v in out.items()}, _ln(x, gamma, beta, eps))


def _affine(d_model: int, seed: int, dtype):
    gamma = (1.0 + 0.5 * randn(d_model, seed=seed, dtype=torch.float64)).to(dtype)
    beta = randn(d_model, seed=seed + 1, dtype=dtype)
    return gamma, beta


# ---------------------------------------------------------------------------------------------
# layer_norm
# ---------------------------------------------------------------------------------------------
@check
def layer_norm_values(layer_norm):
    """Values for float32 and float64 tokens with a learned scale and shift."""
    run = pure(layer_norm, "norm", "layer_norm", ("x", "gamma", "beta"))
    for dtype in DTYPES:
        x = (randn(3, 4, 6, seed=601, dtype=torch.float64) * 2.0 + 0.7).to(dtype)
        gamma, beta = _affine(6, seed=602, dtype=dtype)
        _expect_layer_norm(run, x, gamma, beta, f"layer_norm(x, gamma, beta) for {dtype} x of shape (3, 4, 6)")
        # A second input whose features have very different scales from token to token.
        x2 = (randn(5, 8, seed=603, dtype=torch.float64) * torch.linspace(0.2, 5.0, 5, dtype=torch.float64)[:, None]).to(dtype)
        gamma2, beta2 = _affine(8, seed=604, dtype=dtype)
        _expect_layer_norm(run, x2, gamma2, beta2, f"layer_norm for {dtype} x of shape (5, 8)")


@check
def layer_norm_batch_dims(layer_norm):
    """Any number of leading batch dims; the input's dtype; the inputs left untouched."""
    run = pure(layer_norm, "norm", "layer_norm", ("x", "gamma", "beta"))
    for i, shape in enumerate(cases([(7,), (5, 7), (2, 5, 7), (2, 3, 4, 7)])):
        for dtype in DTYPES:
            x = randn(*shape, seed=610 + i, dtype=dtype, scale=1.5)
            gamma, beta = _affine(7, seed=620 + i, dtype=dtype)
            _expect_layer_norm(run, x, gamma, beta, f"layer_norm for {dtype} x of shape {shape}")


@check
def layer_norm_eps(layer_norm):
    """eps inside the square root, the eps argument used, the default eps=1e-5."""
    run = pure(layer_norm, "norm", "layer_norm", ("x", "gamma", "beta"))
    # Tokens whose variance is close to eps make the place of eps visible. float64, because in
    # float32 the cancellation in x - mean would blur a fair comparison.
    x = (1.5 + 3e-3 * randn(4, 6, 8, seed=630, dtype=torch.float64))
    gamma, beta = _affine(8, seed=631, dtype=torch.float64)
    expect_close(
        run(x, gamma, beta), _ln(x, gamma, beta, 1e-5),
        "layer_norm(x, gamma, beta) with the default eps, for float64 tokens whose variance is about 1e-5",
        mistakes=_layer_norm_mistakes(x, gamma, beta, 1e-5),
        hint="The default is eps=1e-5, added to the variance inside the square root.",
    )
    for eps in (1e-3, 1e-7):
        expect_close(
            run(x, gamma, beta, eps=eps), _ln(x, gamma, beta, eps),
            f"layer_norm(x, gamma, beta, eps={eps}) for float64 tokens whose variance is about 1e-5",
            mistakes=_layer_norm_mistakes(x, gamma, beta, eps),
        )
    # A large eps shows its place in float32 too.
    x32 = randn(3, 5, 6, seed=632, dtype=torch.float32)
    g32, b32 = _affine(6, seed=633, dtype=torch.float32)
    expect_close(
        run(x32, g32, b32, eps=0.5), _ln(x32, g32, b32, 0.5),
        "layer_norm(x, gamma, beta, eps=0.5) for float32 x",
        mistakes=_layer_norm_mistakes(x32, g32, b32, 0.5),
    )


@check
def layer_norm_bad_args(layer_norm):
    """ValueError naming gamma or beta when their shape is not (d_model,)."""
    run = pure(layer_norm, "norm", "layer_norm", ("x", "gamma", "beta"))
    x = randn(2, 3, 6, seed=640)
    gamma, beta = _affine(6, seed=641, dtype=torch.float32)
    cases = [
        ("gamma", (randn(7, seed=642), beta), "gamma of shape (7,)"),
        ("beta", (gamma, randn(5, seed=643)), "beta of shape (5,)"),
    ]
    for name, (g, b), described in cases:
        try:
            run(x, g, b)
        except AssertionError:
            raise
        except ValueError as err:
            if name not in str(err).lower():
                raise AssertionError(
                    f"layer_norm with x of shape (2, 3, 6) and {described} raised ValueError({str(err)!r}); "
                    f"the message should name the argument `{name}`."
                ) from None
            continue
        except Exception as err:
            raise AssertionError(
                f"layer_norm with x of shape (2, 3, 6) and {described} raised {type(err).__name__}; "
                f"it should raise ValueError naming `{name}` (its shape must be (d_model,) = (6,))."
            ) from None
        raise AssertionError(
            f"layer_norm with x of shape (2, 3, 6) and {described} returned a result; it should raise "
            f"ValueError naming `{name}` (its shape must be (d_model,) = (6,))."
        )


# ---------------------------------------------------------------------------------------------
# add_and_norm
# ---------------------------------------------------------------------------------------------
def _add_norm_mistakes(x, s, gamma, beta, eps=1e-5) -> dict:
    one, zero = torch.ones_like(gamma), torch.zeros_like(beta)
    out = {
        "you normalised only the sublayer output and added x afterwards (x + norm(sublayer_out)); "
        "the lecture's Add & Norm adds first, then normalises: norm(x + sublayer_out)": x + _ln(s, gamma, beta, eps),
        "you normalised the sublayer output without adding the residual x (the original input signal "
        "is lost)": _ln(s, gamma, beta, eps),
        "you normalised x and added the sublayer output afterwards (norm(x) + sublayer_out); Add & Norm "
        "adds first, then normalises": _ln(x, gamma, beta, eps) + s,
        "you left out the sublayer output: only x is normalised": _ln(x, gamma, beta, eps),
        "you added x and the sublayer output but did not normalise the sum": x + s,
        "you did not pass gamma and beta on to layer_norm": _ln(x + s, one, zero, eps),
    }
    if eps != 1e-5:
        out["you did not pass eps on to layer_norm"] = _ln(x + s, gamma, beta, 1e-5)
    return distinct(out, _ln(x + s, gamma, beta, eps))


def _run_add_and_norm(add_and_norm):
    return pure(add_and_norm, "norm", "add_and_norm", ("x", "sublayer_out", "gamma", "beta"))


@check
def add_and_norm_values(add_and_norm):
    """Post-norm: layer_norm(x + sublayer_out, gamma, beta, eps), float32 and float64."""
    with grade_alone(add_and_norm, {"layer_norm": _layer_norm_oracle}):
        run = _run_add_and_norm(add_and_norm)
        for dtype in DTYPES:
            x = randn(2, 5, 6, seed=650, dtype=dtype, scale=1.5)
            s = randn(2, 5, 6, seed=651, dtype=dtype, scale=0.8)
            gamma, beta = _affine(6, seed=652, dtype=dtype)
            expect_close(
                run(x, s, gamma, beta), _ln(x + s, gamma, beta),
                f"add_and_norm(x, sublayer_out, gamma, beta) for {dtype} inputs of shape (2, 5, 6)",
                mistakes=_add_norm_mistakes(x, s, gamma, beta),
            )
            expect_close(
                run(x, s, gamma, beta, eps=0.3), _ln(x + s, gamma, beta, 0.3),
                f"add_and_norm(x, sublayer_out, gamma, beta, eps=0.3) for {dtype} inputs",
                mistakes=_add_norm_mistakes(x, s, gamma, beta, 0.3),
            )


@check
def add_and_norm_batch_dims(add_and_norm):
    """Any number of leading batch dims; the input's dtype; x and sublayer_out left untouched."""
    with grade_alone(add_and_norm, {"layer_norm": _layer_norm_oracle}):
        run = _run_add_and_norm(add_and_norm)
        for i, shape in enumerate(cases([(6,), (4, 6), (2, 3, 4, 6)])):
            for dtype in DTYPES:
                x = randn(*shape, seed=660 + i, dtype=dtype)
                s = randn(*shape, seed=670 + i, dtype=dtype, scale=0.5)
                gamma, beta = _affine(6, seed=680 + i, dtype=dtype)
                expect_close(
                    run(x, s, gamma, beta), _ln(x + s, gamma, beta),
                    f"add_and_norm for {dtype} inputs of shape {shape}",
                    mistakes=_add_norm_mistakes(x, s, gamma, beta),
                )


# ---------------------------------------------------------------------------------------------
# FeedForward
# ---------------------------------------------------------------------------------------------
def _ff_weights(d_model: int, d_ff: int, seed: int, dtype=torch.float64) -> dict[str, torch.Tensor]:
    """Seeded weights, rounded to `dtype` (so the module holds exactly what the oracle uses), as float64."""
    weights = {
        "linear1.weight": randn(d_ff, d_model, seed=seed, scale=1 / math.sqrt(d_model), dtype=torch.float64),
        "linear1.bias": randn(d_ff, seed=seed + 1, scale=0.3, dtype=torch.float64),
        "linear2.weight": randn(d_model, d_ff, seed=seed + 2, scale=1 / math.sqrt(d_ff), dtype=torch.float64),
        "linear2.bias": randn(d_model, seed=seed + 3, scale=0.3, dtype=torch.float64),
    }
    return {key: value.to(dtype).double() for key, value in weights.items()}


def _ff_oracle(x, w, activation=torch.relu, final=None):
    x64 = x.double()
    hidden = activation(x64 @ w["linear1.weight"].T + w["linear1.bias"])
    out = hidden @ w["linear2.weight"].T + w["linear2.bias"]
    if final is not None:
        out = final(out)
    return out.to(x.dtype)


def _ff_mistakes(x, w) -> dict:
    return distinct({
        "the ReLU between the two linear layers is missing (two linear layers in a row are just one "
        "linear map)": _ff_oracle(x, w, activation=lambda h: h),
        "you applied a ReLU after the second linear layer too; the output of the feed-forward network "
        "is linear2(relu(linear1(x)))": _ff_oracle(x, w, final=torch.relu),
        "you used GELU instead of ReLU": _ff_oracle(x, w, activation=nn.functional.gelu),
        "you used a sigmoid instead of ReLU": _ff_oracle(x, w, activation=torch.sigmoid),
        "you used tanh instead of ReLU": _ff_oracle(x, w, activation=torch.tanh),
        "you applied the ReLU to the input before linear1 instead of between the layers":
            ((torch.relu(x.double()) @ w["linear1.weight"].T + w["linear1.bias"]) @ w["linear2.weight"].T
             + w["linear2.bias"]).to(x.dtype),
    }, _ff_oracle(x, w))


def _linear_layer(module, owner: str, name: str, in_features: int, out_features: int) -> nn.Module:
    layer = _getattr(module, name, None)
    if not _isinstance(layer, nn.Linear):
        raise AssertionError(
            f"{owner}.{name} should be an nn.Linear({in_features}, {out_features}), but it is "
            f"{type(layer).__name__ if layer is not None else 'missing'}."
        )
    if tuple(layer.weight.shape) != (out_features, in_features):
        raise AssertionError(
            f"{owner}.{name}.weight has shape {tuple(layer.weight.shape)}; nn.Linear({in_features}, "
            f"{out_features}) stores a weight of shape ({out_features}, {in_features}). "
            f"Check the order of in_features and out_features."
        )
    if layer.bias is None:
        raise AssertionError(f"{owner}.{name} has no bias; create it with nn.Linear({in_features}, {out_features}) (bias=True).")
    return layer


def _build(cls, name: str, reference: str, *args):
    ready_made = _getattr(transformer_reference, reference, None)
    if _isinstance(cls, type) and _isinstance(ready_made, type) and _issubclass(cls, ready_made):
        raise DelegationError(
            f"`{name}` is (or inherits from) the course's reference transformer_reference.{reference}, which does "
            "this exercise for you, so the exercise scores 0. Write the module yourself from nn.Linear and basic operations."
        )
    refuse_delegation(cls, "none", reference)
    with no_delegation(name, "none", reference):
        module = cls(*args)
    if not _isinstance(module, nn.Module):
        raise AssertionError(f"{name}(...) should create a torch.nn.Module, but it made a {type(module).__name__}.")
    return module


def _load_ff(module, weights: dict, owner: str, d_model: int, d_ff: int) -> None:
    _linear_layer(module, owner, "linear1", d_model, d_ff)
    _linear_layer(module, owner, "linear2", d_ff, d_model)
    load_weights(module, weights)


def _ff_forward(FeedForward, d_model, d_ff, seed, dtype, inputs):
    ff = _build(FeedForward, "FeedForward", "FeedForward", d_model, d_ff).to(dtype)
    weights = _ff_weights(d_model, d_ff, seed, dtype)
    _load_ff(ff, weights, f"FeedForward({d_model}, {d_ff})", d_model, d_ff)
    with no_delegation("FeedForward", "none", "FeedForward"):
        outputs = [ff(x) for x in inputs]
    return weights, outputs


@check
def feed_forward_structure(FeedForward):
    """linear1 = nn.Linear(d_model, d_ff), linear2 = nn.Linear(d_ff, d_model), nothing else learned."""
    ff = _build(FeedForward, "FeedForward", "FeedForward", 6, 10)
    _linear_layer(ff, "FeedForward(6, 10)", "linear1", 6, 10)
    _linear_layer(ff, "FeedForward(6, 10)", "linear2", 10, 6)
    count = sum(p.numel() for p in ff.parameters())
    expected = 6 * 10 + 10 + 10 * 6 + 6
    if count != expected:
        raise AssertionError(
            f"FeedForward(6, 10) has {count} learnable numbers; linear1 and linear2 alone have {expected}. "
            "The feed-forward network has no other parameters."
        )


@check
def feed_forward_values(FeedForward):
    """linear2(relu(linear1(x))) with weights copied in, float32 and float64."""
    for dtype in DTYPES:
        x = randn(2, 5, 6, seed=700, dtype=dtype, scale=1.5)
        weights, (out,) = _ff_forward(FeedForward, 6, 10, 701, dtype, [x])
        expect_close(
            out, _ff_oracle(x, weights), f"FeedForward(6, 10) on {dtype} x of shape (2, 5, 6)",
            mistakes=_ff_mistakes(x, weights),
        )


@check
def feed_forward_batch_dims(FeedForward):
    """Any number of leading dims (the same network applied to every position)."""
    shapes = [(6,), (5, 6), (2, 5, 6), (2, 3, 4, 6)]
    inputs = [randn(*shape, seed=710 + i, dtype=torch.float32) for i, shape in enumerate(shapes)]
    weights, outputs = _ff_forward(FeedForward, 6, 10, 711, torch.float32, inputs)
    for shape, x, out in zip(shapes, inputs, outputs):
        expect_close(out, _ff_oracle(x, weights), f"FeedForward(6, 10) on x of shape {shape}", mistakes=_ff_mistakes(x, weights))


# ---------------------------------------------------------------------------------------------
# MixtureOfExperts
# ---------------------------------------------------------------------------------------------
class _Expert(nn.Module):
    """An expert with fixed weights (linear1 -> ReLU -> linear2), put in place of the student's."""

    def __init__(self, weights: dict, dtype):
        super().__init__()
        d_ff, d_model = weights["linear1.weight"].shape
        self.linear1 = nn.Linear(d_model, d_ff, dtype=dtype)
        self.linear2 = nn.Linear(d_ff, d_model, dtype=dtype)
        with torch.no_grad():
            for key, value in weights.items():
                layer, _, param = key.partition(".")
                _getattr(_getattr(self, layer), param).copy_(value)

    def forward(self, x):
        return self.linear2(torch.relu(self.linear1(x)))


def _moe_setup(MixtureOfExperts, d_model, d_ff, num_experts, top_k, seed, dtype):
    """The student's module with seeded router weights and experts; returns (module, weights)."""
    owner = f"MixtureOfExperts({d_model}, {d_ff}, {num_experts}, {top_k})"
    moe = _build(MixtureOfExperts, "MixtureOfExperts", "MixtureOfExperts", d_model, d_ff, num_experts, top_k).to(dtype)
    router = _getattr(moe, "router", None)
    if not _isinstance(router, nn.Linear) or tuple(router.weight.shape) != (num_experts, d_model):
        raise AssertionError(
            f"{owner}.router should be nn.Linear(d_model, num_experts) = nn.Linear({d_model}, {num_experts}) "
            f"(weight of shape ({num_experts}, {d_model}))."
        )
    experts = _getattr(moe, "experts", None)
    if not _isinstance(experts, nn.ModuleList) or len(experts) != num_experts:
        raise AssertionError(f"{owner}.experts should be an nn.ModuleList of {num_experts} FeedForward({d_model}, {d_ff}) modules.")
    # The experts' own layers are not checked here: they are replaced by experts built below, so a
    # mistake in FeedForward costs points only in FeedForward's tests.
    w_router = randn(num_experts, d_model, seed=seed, dtype=dtype).double()
    b_router = torch.zeros(num_experts, dtype=torch.float64)
    if router.bias is not None:  # a router without bias is fine too
        b_router = randn(num_experts, seed=seed + 1, dtype=dtype, scale=0.5).double()
    expert_weights = [_ff_weights(d_model, d_ff, seed + 10 * (i + 1), dtype) for i in range(num_experts)]
    load_weights(router, {"weight": w_router, **({"bias": b_router} if router.bias is not None else {})})
    moe.experts = nn.ModuleList(_Expert(w, dtype) for w in expert_weights)
    return moe, {"router": (w_router, b_router), "experts": expert_weights}


def _moe_oracle(x, weights, top_k, mode="correct"):
    """Top-k gated mixture in float64; `mode` reproduces mistakes."""
    w_r, b_r = weights["router"]
    x64 = x.double()
    logits = x64 @ w_r.T + b_r  # (..., E)
    outs = torch.stack([_ff_oracle(x64, w) for w in weights["experts"]], dim=-2)  # (..., E, d_model)
    if mode == "softmax_tokens":  # over all tokens at once (leading dims flattened)
        probs = torch.softmax(logits.reshape(-1, logits.shape[-1]), dim=0).reshape(logits.shape)
    elif mode == "softmax_axis":  # over the axis before the experts
        probs = torch.softmax(logits, dim=-2)
    else:
        probs = torch.softmax(logits, dim=-1)
    if mode == "dense":
        mix = probs
    else:
        order = probs if mode != "bottom_k" else -probs
        idx = order.topk(top_k, dim=-1).indices
        kept = probs.gather(-1, idx)
        if mode == "no_renorm":
            pass
        elif mode == "mean":
            kept = torch.full_like(kept, 1.0 / top_k)
        elif mode == "sum":
            kept = torch.ones_like(kept)
        elif mode == "softmax_twice":
            kept = torch.softmax(kept, dim=-1)
        else:
            kept = kept / kept.sum(dim=-1, keepdim=True)
        mix = torch.zeros_like(probs).scatter(-1, idx, kept)
    return (mix.unsqueeze(-1) * outs).sum(dim=-2).to(x.dtype)


def _moe_mistakes(x, weights, top_k) -> dict:
    described = {
        "no_renorm": "you did not renormalise the kept probabilities: divide the top-k probabilities by their "
        "sum so that the chosen experts' weights add up to 1",
        "dense": "you mixed all experts with their router probabilities instead of only the top-k",
        "mean": "you averaged the chosen experts' outputs without weighting them by their router probabilities",
        "sum": "you added the chosen experts' outputs without weighting them by their router probabilities",
        "bottom_k": "you chose the experts with the lowest router probabilities instead of the highest",
        "softmax_twice": "you applied a second softmax to the kept probabilities; renormalise by dividing by "
        "their sum (or take the softmax of the kept logits, not of the probabilities)",
        "softmax_tokens": "you took the router softmax over the tokens instead of over the experts (last axis)",
        "softmax_axis": "you took the router softmax over the second-to-last axis instead of over the experts (last axis)",
    }
    if x.dim() < 2:
        del described["softmax_tokens"], described["softmax_axis"]
    mistakes = {text: _moe_oracle(x, weights, top_k, mode) for mode, text in described.items()}
    return distinct(mistakes, _moe_oracle(x, weights, top_k))


def _tokens_with_clear_choice(weights, d_model, top_k, count, seed) -> torch.Tensor:
    """`count` float64 tokens whose k-th and (k+1)-th router probabilities differ clearly.

    Avoids near-ties, where float32 rounding could legitimately pick a different expert.
    """
    w_r, b_r = weights["router"]
    candidates = randn(40 * count, d_model, seed=seed, dtype=torch.float64)
    probs = torch.softmax(candidates @ w_r.T + b_r, dim=-1)
    if top_k < probs.shape[-1]:
        top = probs.topk(top_k + 1, dim=-1).values
        keep = (top[:, top_k - 1] - top[:, top_k]) > 2e-3
        candidates = candidates[keep]
    if candidates.shape[0] < count:  # pragma: no cover - a bug in the check, not the student's
        raise RuntimeError("check data: not enough tokens with a clear top-k choice")
    return candidates[:count]


def _moe_run(moe, inputs):
    with no_delegation("MixtureOfExperts", "none", "MixtureOfExperts"):
        return [moe(x) for x in inputs]


@check
def moe_structure(MixtureOfExperts):
    """router = nn.Linear(d_model, num_experts); experts = an nn.ModuleList of num_experts modules (FeedForward's own layers are graded in its own tests)."""
    _moe_setup(MixtureOfExperts, 6, 12, 4, 2, seed=800, dtype=torch.float32)
    moe = _build(MixtureOfExperts, "MixtureOfExperts", "MixtureOfExperts", 6, 12, 5, 3)
    if len(_getattr(moe, "experts", [])) != 5:
        raise AssertionError("MixtureOfExperts(6, 12, 5, 3).experts should hold 5 experts.")


@check
def moe_values(MixtureOfExperts):
    """Top-2 of 4 experts: router softmax, top-k choice, renormalised weights, float32 and float64."""
    for dtype in DTYPES:
        moe, weights = _moe_setup(MixtureOfExperts, 6, 12, 4, 2, seed=810, dtype=dtype)
        x = _tokens_with_clear_choice(weights, 6, 2, 15, seed=811).reshape(3, 5, 6).to(dtype)
        (out,) = _moe_run(moe, [x])
        expect_close(
            out, _moe_oracle(x, weights, 2), f"MixtureOfExperts(6, 12, num_experts=4, top_k=2) on {dtype} x of shape (3, 5, 6)",
            mistakes=_moe_mistakes(x, weights, 2),
        )


@check
def moe_top_k(MixtureOfExperts):
    """top_k=1 gives the chosen expert's output; top_k=num_experts mixes all experts; top_k=3 of 5."""
    for top_k, num_experts in cases([(1, 4), (4, 4), (3, 5)]):
        moe, weights = _moe_setup(MixtureOfExperts, 6, 12, num_experts, top_k, seed=820 + top_k, dtype=torch.float64)
        x = _tokens_with_clear_choice(weights, 6, top_k, 10, seed=830 + top_k)
        (out,) = _moe_run(moe, [x])
        hint = {
            1: "With top_k=1 the chosen expert gets weight 1 after renormalisation.",
            4: "With top_k=num_experts every expert is kept with its router probability.",
        }.get(top_k, "")
        expect_close(
            out, _moe_oracle(x, weights, top_k), f"MixtureOfExperts(6, 12, num_experts={num_experts}, top_k={top_k})",
            mistakes=_moe_mistakes(x, weights, top_k), hint=hint,
        )


@check
def moe_unchosen_experts(MixtureOfExperts):
    """Experts outside a token's top-k do not contribute to that token's output."""
    num_experts, top_k = 4, 2
    moe, weights = _moe_setup(MixtureOfExperts, 6, 12, num_experts, top_k, seed=840, dtype=torch.float64)
    x = _tokens_with_clear_choice(weights, 6, top_k, 12, seed=841)
    (before,) = _moe_run(moe, [x])
    w_r, b_r = weights["router"]
    chosen = torch.softmax(x @ w_r.T + b_r, dim=-1).topk(top_k, dim=-1).indices  # (N, k)
    for e in range(num_experts):
        # Shift expert e's output by a large constant: only tokens that chose e may change.
        with torch.no_grad():
            moe.experts[e].linear2.bias += 50.0
        try:
            (after,) = _moe_run(moe, [x])
        finally:
            with torch.no_grad():
                moe.experts[e].linear2.bias -= 50.0
        expect_tensor(after, "MixtureOfExperts output", shape=x.shape)
        unchosen = ~(chosen == e).any(dim=-1)
        moved = (after - before).abs().amax(dim=-1) > 1e-6
        leaked = (unchosen & moved).nonzero().flatten().tolist()
        if leaked:
            raise AssertionError(
                f"Token {leaked[0]} did not choose expert {e} (it is not among its top-{top_k}), yet changing "
                f"expert {e}'s weights changed that token's output. Experts outside a token's top-k must not "
                "contribute at all: give them weight 0."
            )
        if not (moved | unchosen).all():
            token = (~(moved | unchosen)).nonzero().flatten().tolist()[0]
            raise AssertionError(
                f"Token {token} chose expert {e}, but changing expert {e}'s weights did not change its output: "
                "the chosen experts' outputs should be mixed into the result."
            )


@check
def moe_batch_dims(MixtureOfExperts):
    """Any number of leading dims; each token is routed on its own."""
    moe, weights = _moe_setup(MixtureOfExperts, 6, 12, 4, 2, seed=850, dtype=torch.float32)
    tokens = _tokens_with_clear_choice(weights, 6, 2, 24, seed=851).float()
    shapes = [(6,), (24, 6), (4, 6, 6), (2, 2, 6, 6)]
    inputs = [tokens[0], tokens, tokens.reshape(4, 6, 6), tokens.reshape(2, 2, 6, 6)]
    outputs = _moe_run(moe, inputs)
    for shape, x, out in zip(shapes, inputs, outputs):
        expect_close(
            out, _moe_oracle(x, weights, 2), f"MixtureOfExperts on x of shape {shape}",
            mistakes=_moe_mistakes(x, weights, 2),
        )
