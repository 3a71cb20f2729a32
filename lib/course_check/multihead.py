"""Checks for 04_multihead: split_heads, merge_heads and MultiHeadAttention.

Expected values come from float64 oracles written here with slicing, `torch.cat` and matmul
(never from the student's code, never through a ready-made attention). Every comparison names the
mistake the output matches (`mistakes=`): the head layout mistakes (reshaping to (B, H, T, d_head)
without a transpose, strided heads from view(B, T, d_head, H), merging without the transpose),
scaling by sqrt(d_model) instead of sqrt(d_head), a missing projection, masks that broadcast over
the wrong axis.

Shapes are chosen so that the batch size, the number of heads, the sequence lengths and d_head all
differ (B=3, H=2; B=2, H=4), so a mixed-up axis gives a wrong value or a clear error; one mask case
uses B == H on purpose, where a mask that lands on the head axis broadcasts silently and only the
values show the mistake.

MultiHeadAttention is graded on its own: while it runs, the notebook's own `split_heads` and
`merge_heads` (if the class calls them) are replaced by correct stand-ins, so a mistake in those
exercises costs points only once. Weights are copied into `w_q, w_k, w_v, w_o` explicitly, so the
checks never depend on the order in which the student's constructor creates its parameters.

The oracle `mha64` and the helpers below are also used by `course_check.cross_attention`.
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
    guarded,
    is_close,
    load_weights,
    no_delegation,
    randn,
    refuse_delegation,
)

_str = str
_equal = torch.equal
_clone = torch.Tensor.clone

PROJECTIONS = ("w_q", "w_k", "w_v", "w_o")


# The notebook's own earlier helpers each exercise is graded without (`grade_alone` swaps in
# correct ones), so a mistake in a helper costs points only in the helper's own tests.
STAND_INS = {"MultiHeadAttention": ("split_heads", "merge_heads")}


# ---------------------------------------------------------------------------------------------
# Small shared helpers.
# ---------------------------------------------------------------------------------------------
def expect_close_lazy(actual, expected: torch.Tensor, what: str, mistakes, hint: str = "") -> None:
    """expect_close, but the mistakes' outputs (`mistakes()`) are only computed when the result is wrong."""
    if (_isinstance(actual, torch.Tensor) and actual.dtype == expected.dtype and is_close(actual, expected)):
        return
    expect_close(actual, expected, what, mistakes=mistakes(), hint=hint)


def attempt(call, what: str, explain=None):
    """Run `call()`; turn an unexpected exception into a message that says what was called and why it may fail.

    NotImplementedError (an unfinished exercise) and AssertionError (a failed check, a refused
    delegation) pass through unchanged.
    """
    try:
        return call()
    except (AssertionError, NotImplementedError):
        raise
    except Exception as err:  # the student's code failed: say where, and guess why
        text = explain(err) if explain is not None else None
        message = f"{what} raised {type(err).__name__}: {_str(err)[:300]}"
        raise AssertionError(message + (f" {text}" if text else "")) from None


def explain_view_error(err) -> str | None:
    if "view size is not compatible" in _str(err):
        return (
            "`.view()` cannot reshape a tensor whose memory is not in row order any more, which is what "
            "transpose() leaves behind. Call `.contiguous()` before `.view()`, or use `.reshape()`."
        )
    return None


def unchanged(saved: list, fn: str) -> None:
    """Raise if any (name, tensor, copy) in `saved` was modified in place."""
    for name, tensor, before in saved:
        if not _equal(before, tensor):
            raise AssertionError(
                f"{fn} changed its argument `{name}` in place. Compute new tensors and leave the caller's "
                "tensors untouched."
            )


def expect_value_error(call, argument: str, described: str, why: str) -> None:
    """`call()` must raise ValueError whose message names `argument`."""
    try:
        call()
    except AssertionError:
        raise
    except NotImplementedError:
        raise
    except ValueError as err:
        if argument not in _str(err):
            raise AssertionError(
                f"{described} raised ValueError({_str(err)!r}); the message should name the argument `{argument}`."
            ) from None
        return
    except Exception as err:
        raise AssertionError(
            f"{described} raised {type(err).__name__} ({_str(err)[:150]}); it should raise ValueError naming "
            f"`{argument}` ({why})."
        ) from None
    raise AssertionError(f"{described} did not raise; it should raise ValueError naming `{argument}` ({why}).")


# ---------------------------------------------------------------------------------------------
# Oracles for the head layout (float64-safe: they only move numbers) and their mistakes.
# ---------------------------------------------------------------------------------------------
def split64(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, T, d_model) -> (B, H, T, d_head): head h holds features h*d_head:(h+1)*d_head."""
    d_head = x.shape[-1] // num_heads
    return torch.stack([x[..., h * d_head:(h + 1) * d_head] for h in range(num_heads)], dim=1)


def merge64(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, d_head) -> (B, T, H*d_head): the heads side by side along the features."""
    return torch.cat([x[:, h] for h in range(x.shape[1])], dim=-1)


def _split_no_transpose(x, num_heads):
    B, T, d_model = x.shape
    return x.reshape(B, num_heads, T, d_model // num_heads)


def _split_strided(x, num_heads):
    B, T, d_model = x.shape
    return x.reshape(B, T, d_model // num_heads, num_heads).permute(0, 3, 1, 2)


def _merge_no_transpose(x):
    B, H, T, d_head = x.shape
    return x.reshape(B, T, H * d_head)


def _merge_strided(x):
    B, H, T, d_head = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, d_head * H)


SPLIT_NO_TRANSPOSE = (
    "you reshaped (B, T, d_model) straight to (B, H, T, d_head) without a transpose, which mixes the "
    "positions: reshape to (B, T, H, d_head) first, then transpose(1, 2)"
)
SPLIT_STRIDED = (
    "your heads take every H-th feature (view(B, T, d_head, H)), but head h must hold the consecutive "
    "features h*d_head:(h+1)*d_head: reshape to (B, T, H, d_head), then transpose(1, 2)"
)
MERGE_NO_TRANSPOSE = (
    "you reshaped (B, H, T, d_head) straight to (B, T, H*d_head) without moving the head axis back "
    "behind T: transpose(1, 2) first (then .contiguous().view(...) or .reshape(...))"
)
MERGE_STRIDED = (
    "you interleaved the heads' features (permuting d_head in front of H); the heads must sit side by "
    "side, head h in features h*d_head:(h+1)*d_head: transpose(1, 2), then reshape to (B, T, H*d_head)"
)


def split_stand_in(x, num_heads):
    """Correct split_heads used while another exercise is graded."""
    if x.shape[-1] % num_heads != 0:
        raise ValueError(f"num_heads ({num_heads}) must divide d_model ({x.shape[-1]})")
    return split64(x, num_heads)


def merge_stand_in(x):
    """Correct merge_heads used while another exercise is graded."""
    return merge64(x)


def _split_mistakes(x, num_heads) -> dict:
    return distinct(
        {SPLIT_NO_TRANSPOSE: _split_no_transpose(x, num_heads), SPLIT_STRIDED: _split_strided(x, num_heads)},
        split64(x, num_heads),
    )


def _merge_mistakes(x) -> dict:
    return distinct({MERGE_NO_TRANSPOSE: _merge_no_transpose(x), MERGE_STRIDED: _merge_strided(x)}, merge64(x))


def _layout_hint(actual, expected_shape, layout: str, wrong_layouts: dict) -> None:
    """Raise a clear message when the result has a known wrong shape."""
    expect_tensor(actual, "the result")
    shape = tuple(actual.shape)
    if shape == tuple(expected_shape):
        return
    for wrong_shape, text in wrong_layouts.items():
        if shape == tuple(wrong_shape):
            raise AssertionError(f"the result should have shape {layout} = {tuple(expected_shape)}, but it has shape {shape}: {text}")
    raise AssertionError(f"the result should have shape {layout} = {tuple(expected_shape)}, but it has shape {shape}.")


# ---------------------------------------------------------------------------------------------
# split_heads
# ---------------------------------------------------------------------------------------------
def _run_layout(fn, name: str, reference: str, arg_names: tuple):
    run = guarded(fn, "none", reference)

    def call(*args):
        saved = [(n, a, _clone(a)) for n, a in zip(arg_names, args) if _isinstance(a, torch.Tensor)]
        described = f"{name}(" + ", ".join(
            f"x of shape {tuple(a.shape)}" if _isinstance(a, torch.Tensor) else f"{n}={a}" for n, a in zip(arg_names, args)
        ) + ")"
        result = attempt(lambda: run(*args), described, explain_view_error)
        unchanged(saved, name)
        return result, described

    return call


def _check_split(call, B, T, d_model, H, dtype, seed):
    x = randn(B, T, d_model, seed=seed, dtype=dtype)
    out, described = call(x, H)
    d_head = d_model // H
    _layout_hint(out, (B, H, T, d_head), "(B, H, T, d_head)", {
        (B, T, H, d_head): "you have (B, T, H, d_head); transpose(1, 2) moves the head axis in front of T",
        (B, H, d_head, T): "T and d_head are swapped; reshape to (B, T, H, d_head), then transpose(1, 2) only",
    })
    expect_close_lazy(out, split64(x, H), f"{described} for {dtype}", lambda: _split_mistakes(x, H),
                 hint="Head h must hold features h*d_head:(h+1)*d_head of every position.")


@check
def split_heads_layout(split_heads):
    """Head h holds features h*d_head:(h+1)*d_head of every position (B, T, H, d_head all different)."""
    call = _run_layout(split_heads, "split_heads", "split_heads", ("x", "num_heads"))
    for dtype in DTYPES:
        _check_split(call, 3, 5, 8, 2, dtype, seed=401)   # B=3, H=2, T=5, d_head=4
        _check_split(call, 2, 3, 12, 4, dtype, seed=402)  # B=2, H=4, T=3, d_head=3
        _check_split(call, 2, 6, 15, 3, dtype, seed=403)  # odd d_head


@check
def split_heads_shapes(split_heads):
    """Shapes for one head, one feature per head, B=1, T=1; float32 and float64 kept; input untouched."""
    call = _run_layout(split_heads, "split_heads", "split_heads", ("x", "num_heads"))
    cases = [(2, 4, 6, 1), (2, 4, 6, 6), (1, 7, 8, 2), (4, 1, 9, 3), (3, 2, 20, 5)]
    for i, (B, T, d_model, H) in enumerate(cases):
        for dtype in DTYPES:
            _check_split(call, B, T, d_model, H, dtype, seed=410 + i)


@check
def split_heads_bad_args(split_heads):
    """ValueError naming num_heads when num_heads does not divide d_model."""
    run = guarded(split_heads, "none", "split_heads")
    for d_model, H in cases([(10, 4), (12, 5), (6, 4)]):
        x = randn(2, 3, d_model, seed=420)
        expect_value_error(
            lambda: run(x, H), "num_heads", f"split_heads(x of shape (2, 3, {d_model}), num_heads={H})",
            f"{H} heads cannot share {d_model} features equally",
        )


# ---------------------------------------------------------------------------------------------
# merge_heads
# ---------------------------------------------------------------------------------------------
def _check_merge(call, B, H, T, d_head, dtype, seed, contiguous=True):
    if contiguous:  # like the output of attention: a fresh (B, H, T, d_head) tensor
        x = randn(B, H, T, d_head, seed=seed, dtype=dtype)
    else:  # like the output of split_heads: a transposed view
        x = randn(B, T, H, d_head, seed=seed, dtype=dtype).transpose(1, 2)
    out, described = call(x)
    d_model = H * d_head
    wrong = {} if T == H else {
        (B, H, T * d_head): "you merged the wrong axes: move the head axis behind T first (transpose(1, 2))",
    }
    _layout_hint(out, (B, T, d_model), "(B, T, H*d_head)", wrong)
    expect_close_lazy(out, merge64(x), f"{described} for {dtype}", lambda: _merge_mistakes(x),
                 hint="Features h*d_head:(h+1)*d_head of the result must be head h.")


@check
def merge_heads_layout(merge_heads):
    """Head h lands in features h*d_head:(h+1)*d_head, for fresh (contiguous) (B, H, T, d_head) tensors."""
    call = _run_layout(merge_heads, "merge_heads", "merge_heads", ("x",))
    for dtype in DTYPES:
        _check_merge(call, 3, 2, 5, 4, dtype, seed=430)
        _check_merge(call, 2, 4, 3, 3, dtype, seed=431)
        _check_merge(call, 2, 3, 6, 5, dtype, seed=432)


@check
def merge_heads_inverse(merge_heads):
    """merge_heads undoes split_heads exactly, for transposed views too; shapes and dtypes kept."""
    call = _run_layout(merge_heads, "merge_heads", "merge_heads", ("x",))
    for i, (B, T, d_model, H) in enumerate(cases([(3, 5, 8, 2), (2, 3, 12, 4), (1, 4, 6, 1), (2, 4, 6, 6)])):
        for dtype in DTYPES:
            x = randn(B, T, d_model, seed=440 + i, dtype=dtype)
            heads = split64(x, H)  # (B, H, T, d_head), a fresh tensor
            out, described = call(heads)
            expect_close_lazy(out, x, f"merge_heads(split_heads(x, {H})) for x of shape {(B, T, d_model)} and {dtype}",
                              lambda: _merge_mistakes(heads), hint="merge_heads must give x back exactly.")
            _check_merge(call, B, H, T, d_model // H, dtype, seed=450 + i, contiguous=False)


# ---------------------------------------------------------------------------------------------
# Multi-head attention: float64 oracle with switches that reproduce mistakes.
# ---------------------------------------------------------------------------------------------
def mha_weights(d_model: int, seed: int, dtype) -> dict:
    """Seeded weights for w_q, w_k, w_v, w_o, rounded to `dtype` (so the module holds exactly what
    the oracle uses), as float64: {"w_q.weight": (d_model, d_model), "w_q.bias": (d_model,), ...}."""
    weights = {}
    for i, name in enumerate(PROJECTIONS):
        w = randn(d_model, d_model, seed=seed + 2 * i, dtype=torch.float64, scale=1.2 / math.sqrt(d_model))
        b = randn(d_model, seed=seed + 2 * i + 1, dtype=torch.float64, scale=0.3)
        weights[f"{name}.weight"] = w.to(dtype).double()
        weights[f"{name}.bias"] = b.to(dtype).double()
    return weights


def _project(x, W, name, *, bias=True, transposed=False):
    w = W[f"{name}.weight"]
    out = x @ (w if transposed else w.T)
    return out + W[f"{name}.bias"] if bias else out


def _masked_softmax(scores, keep, dim):
    """Softmax over `dim` of the scores where `keep` is True (0 elsewhere); a row with no kept entry is
    uniform, as with a very negative fill value. Avoids exp() of huge negative numbers, which is slow."""
    safe = scores.masked_fill(~keep, 0.0)
    top = safe.masked_fill(~keep, float("-inf")).amax(dim=dim, keepdim=True)
    empty = ~keep.any(dim=dim, keepdim=True)
    top = top.masked_fill(empty, 0.0)
    exps = torch.exp(safe - top) * (keep | empty)
    return exps / exps.sum(dim=dim, keepdim=True)


def mha64(query, key, value, W, num_heads, mask=None, *, scale="head", split=split64, merge=merge64,
          use=("w_q", "w_k", "w_v"), project_o=True, bias=True, transposed=False, softmax_dim=-1,
          mask_mode="correct", weights_out=False):
    """Multi-head attention in float64, returned in query's dtype (plus the weights if `weights_out`).

    The keyword switches reproduce mistakes: `scale` ("head", "model" or "none"), `split`/`merge`
    (a wrong head layout), `use` (which projection each of q, k, v gets; None = not projected),
    `project_o`, `bias`, `transposed` (x @ W instead of x @ W.T), `softmax_dim`, and `mask_mode`:
    "correct" (mask shared by all heads), "ignored", "inverted", "zero" (masked scores set to 0),
    "after_softmax" (weights zeroed without renormalising), "heads" (no head axis inserted: a 3-D
    mask broadcasts from the right, so its batch axis lands on the heads), "causal" (a lower
    triangle of ones(T_q, T_k) on top of the mask).
    """
    dtype = query.dtype
    q_in, k_in, v_in = query.double(), key.double(), value.double()
    d_model = q_in.shape[-1]
    d_head = d_model // num_heads
    q, k, v = (
        _project(t, W, name, bias=bias, transposed=transposed) if name is not None else t
        for t, name in zip((q_in, k_in, v_in), use)
    )
    q, k, v = split(q, num_heads), split(k, num_heads), split(v, num_heads)  # (B, H, T, d_head)
    width = {"head": d_head, "model": d_model, "none": 1}[scale]
    scores = q @ k.transpose(-2, -1) / math.sqrt(width)  # (B, H, T_q, T_k)
    T_q, T_k = scores.shape[-2:]
    keep = None
    if mask_mode == "causal":
        causal = torch.ones(T_q, T_k, dtype=torch.bool).tril()
        keep = causal if mask is None else (mask & causal)
        mask_mode = "correct"
    elif mask is not None:
        keep = mask
    if keep is not None and mask_mode != "ignored":
        if mask_mode == "heads":
            try:
                if torch.broadcast_shapes(keep.shape, scores.shape) != scores.shape:
                    return None
            except RuntimeError:
                return None
        elif keep.dim() == 3:
            keep = keep.unsqueeze(1)  # (B, 1, T_q, T_k): one mask for all heads
        if mask_mode == "inverted":
            keep = ~keep
        if mask_mode == "zero":
            scores = scores.masked_fill(~keep, 0.0)
            keep = None
    if keep is not None and mask_mode not in ("ignored", "after_softmax"):
        probs = _masked_softmax(scores, keep.expand(scores.shape), softmax_dim)
    else:
        probs = torch.softmax(scores, dim=softmax_dim)
        if keep is not None and mask_mode == "after_softmax":
            probs = probs * keep
    out = merge(probs @ v)  # (B, T_q, d_model)
    if project_o:
        out = _project(out, W, "w_o", bias=bias, transposed=transposed)
    if weights_out:
        return out.to(dtype), probs.to(dtype)
    return out.to(dtype)


def mha_mistakes(query, key, value, W, num_heads, mask=None, *, self_attention=False) -> dict:
    """Outputs of the common multi-head attention mistakes on this input, keyed by a plain-words description.

    `self_attention`: the three inputs are the same tensor, so role mistakes cannot show.
    """
    run = lambda **kw: mha64(query, key, value, W, num_heads, mask, **kw)
    out = {
        "you divided the scores by sqrt(d_model); each head works in d_head = d_model // num_heads "
        "dimensions, so divide by sqrt(d_head)": run(scale="model"),
        "you did not divide the scores by sqrt(d_head)": run(scale="none"),
        "the output projection w_o is missing: apply w_o to the merged heads": run(project_o=False),
        "the values are not projected: apply w_v to `value` before splitting it into heads": run(use=("w_q", "w_k", None)),
        "the queries are not projected with w_q": run(use=(None, "w_k", "w_v")),
        "the keys are not projected with w_k": run(use=("w_q", None, "w_v")),
        "you projected the keys with w_q instead of w_k": run(use=("w_q", "w_q", "w_v")),
        "you projected the values with w_k instead of w_v": run(use=("w_q", "w_k", "w_k")),
        "you multiplied by the weight matrices without their biases: use the nn.Linear layers "
        "(self.w_q(query), ...)": run(bias=False),
        "you multiplied by w.weight instead of its transpose: nn.Linear computes x @ weight.T + bias; "
        "call the layer itself (self.w_q(query))": run(transposed=True),
        "you took the softmax over the queries (dim=-2) instead of over the keys (the last axis)": run(softmax_dim=-2),
        "you ignored num_heads: this is one head over all d_model features": mha64(query, key, value, W, 1, mask),
        SPLIT_NO_TRANSPOSE + " (in split and in merge)": run(split=_split_no_transpose, merge=_merge_no_transpose),
        SPLIT_NO_TRANSPOSE: run(split=_split_no_transpose),
        MERGE_NO_TRANSPOSE: run(merge=_merge_no_transpose),
        SPLIT_STRIDED + " (in split and in merge)": run(split=_split_strided, merge=_merge_strided),
        SPLIT_STRIDED: run(split=_split_strided),
        MERGE_STRIDED: run(merge=_merge_strided),
    }
    if mask is not None:
        out.update({
            "the mask is ignored": run(mask_mode="ignored"),
            "the mask is inverted: True means 'may attend', so fill the scores where the mask is False":
                run(mask_mode="inverted"),
            "you set the masked scores to 0; they must become -inf (or a very negative number) so that "
            "their weight after the softmax is 0": run(mask_mode="zero"),
            "you zeroed the masked weights after the softmax without renormalising; mask the scores "
            "before the softmax": run(mask_mode="after_softmax"),
            "your mask lands on the head axis instead of the batch axis: a (B, T_q, T_k) or (B, 1, T_k) "
            "mask needs a head axis inserted at position 1, mask.unsqueeze(-3) -> (B, 1, T_q, T_k), "
            "so that all heads of batch element b share mask b": run(mask_mode="heads"),
        })
    if not self_attention:
        same_len = key.shape[-2] == query.shape[-2]
        out.update({
            "you swapped key and value: scores come from `key`, the weighted sum from `value`":
                mha64(query, value, key, W, num_heads, mask),
            "the keys and values come from `value` only: keys must be projected from `key`":
                mha64(query, value, value, W, num_heads, mask),
            "the values come from `key`: the weighted sum must use `value` (projected by w_v)":
                mha64(query, key, key, W, num_heads, mask),
        })
        if same_len:
            out.update({
                "the keys come from `query`: keys must be projected from `key`":
                    mha64(query, query, value, W, num_heads, mask),
                "this is self-attention on `query`: keys and values must come from `key` and `value`":
                    mha64(query, query, query, W, num_heads, mask),
            })
    return distinct(out, mha64(query, key, value, W, num_heads, mask))


def explain_mask_error(err) -> str | None:
    text = _str(err)
    if "must match the size of tensor" in text or "broadcast" in text or "expand" in text:
        return (
            "If this comes from the mask: a mask broadcastable to (B, T_q, T_k) needs a head axis before it can "
            "meet the (B, H, T_q, T_k) scores. mask.unsqueeze(-3) turns (B, T_q, T_k) or (B, 1, T_k) into "
            "(B, 1, T_q, T_k) or (B, 1, 1, T_k), and leaves a 2-D (T_q, T_k) mask broadcastable too "
            "(mask.unsqueeze(1) on a 2-D mask puts its axes in the wrong place)."
        )
    return explain_view_error(err)


def explain_roles_error(err) -> str | None:
    return explain_view_error(err) or (
        "Here the number of queries T_q differs from the number of keys T_k: the queries must come from "
        "`query`, the keys from `key` and the values from `value` (key and value have T_k rows), and the "
        "output has one row per query."
    )


# ---------------------------------------------------------------------------------------------
# MultiHeadAttention: building, loading weights, running.
# ---------------------------------------------------------------------------------------------
def build_module(cls, name: str, subject: str, reference: str, *args, explain_errors: bool = True):
    """Construct the student's module under no_delegation, refusing the course's reference class."""
    ready_made = _getattr(transformer_reference, reference, None)
    if _isinstance(cls, type) and _isinstance(ready_made, type) and _issubclass(cls, ready_made):
        raise DelegationError(
            f"`{name}` is (or inherits from) the course's reference transformer_reference.{reference}, which does "
            "this exercise for you, so the exercise scores 0. Write the module yourself."
        )
    refuse_delegation(cls, subject, reference)
    described = f"{name}(" + ", ".join(_str(a) for a in args) + ")"
    with no_delegation(name, subject, reference):
        module = attempt(lambda: cls(*args), described) if explain_errors else cls(*args)
    if not _isinstance(module, nn.Module):
        raise AssertionError(f"{described} should create a torch.nn.Module, but it made a {type(module).__name__}.")
    return module


def linear_layer(module, owner: str, name: str, in_features: int, out_features: int) -> nn.Module:
    layer = _getattr(module, name, None)
    if not _isinstance(layer, nn.Linear):
        raise AssertionError(
            f"{owner}.{name} should be an nn.Linear({in_features}, {out_features}), but it is "
            f"{type(layer).__name__ if layer is not None else 'missing'}."
        )
    if tuple(layer.weight.shape) != (out_features, in_features):
        raise AssertionError(
            f"{owner}.{name}.weight has shape {tuple(layer.weight.shape)}; nn.Linear({in_features}, {out_features}) "
            f"stores a weight of shape ({out_features}, {in_features})."
        )
    if layer.bias is None:
        raise AssertionError(f"{owner}.{name} has no bias; create it with nn.Linear({in_features}, {out_features}) (bias=True).")
    return layer


def load_mha(module, W: dict, owner: str, d_model: int) -> None:
    """Copy the oracle's weights into module.w_q, ..., module.w_o (checking they exist with the right shapes)."""
    for name in PROJECTIONS:
        linear_layer(module, owner, name, d_model, d_model)
    load_weights(module, {f"{name}.{p}": W[f"{name}.{p}"] for name in PROJECTIONS for p in ("weight", "bias")})


def _mha_setup(MultiHeadAttention, d_model, num_heads, seed, dtype):
    mha = build_module(MultiHeadAttention, "MultiHeadAttention", "attention", "MultiHeadAttention", d_model, num_heads)
    mha = mha.to(dtype)
    W = mha_weights(d_model, seed, dtype)
    load_mha(mha, W, f"MultiHeadAttention({d_model}, {num_heads})", d_model)
    return mha, W


def _mha_call(MultiHeadAttention, mha, args, described, explain):
    names = ("query", "key", "value", "mask")
    saved = [(n, a, _clone(a)) for n, a in zip(names, args) if _isinstance(a, torch.Tensor)]
    with grade_alone(MultiHeadAttention, {"split_heads": split_stand_in, "merge_heads": merge_stand_in}):
        with no_delegation("MultiHeadAttention", "attention", "MultiHeadAttention"):
            out = attempt(lambda: mha(*args), described, explain)
    unchanged(saved, "MultiHeadAttention.forward")
    return out


def _describe(B, T_q, T_k, d_model, H, dtype, call, mask=None):
    text = f"MultiHeadAttention({d_model}, num_heads={H}) in {dtype}: {call} with B={B}, T_q={T_q}, T_k={T_k}"
    if mask is not None:
        text += f" and a mask of shape {tuple(mask.shape)}"
    return text


def _compare_mha(MultiHeadAttention, mha, W, H, query, key, value, mask=None, *, call="mha(query, key, value)",
                 self_attention=False, explain=explain_roles_error):
    B, T_q, d_model = query.shape
    T_k = key.shape[1]
    described = _describe(B, T_q, T_k, d_model, H, query.dtype, call, mask)
    args = (query, key, value) if mask is None else (query, key, value, mask)
    out = _mha_call(MultiHeadAttention, mha, args, described, explain)
    expect_close_lazy(out, mha64(query, key, value, W, H, mask), described,
                      lambda: mha_mistakes(query, key, value, W, H, mask, self_attention=self_attention))


@check
def mha_structure(MultiHeadAttention):
    """w_q, w_k, w_v, w_o are nn.Linear(d_model, d_model) with bias; no other parameters."""
    for d_model, H in cases([(12, 3), (8, 8), (6, 1)]):
        owner = f"MultiHeadAttention({d_model}, {H})"
        mha = build_module(MultiHeadAttention, "MultiHeadAttention", "attention", "MultiHeadAttention", d_model, H)
        for name in PROJECTIONS:
            linear_layer(mha, owner, name, d_model, d_model)
        if len({id(_getattr(mha, name)) for name in PROJECTIONS}) != 4:
            raise AssertionError(f"{owner}: w_q, w_k, w_v and w_o must be four separate nn.Linear layers.")
        count = sum(p.numel() for p in mha.parameters())
        expected = 4 * (d_model * d_model + d_model)
        if count != expected:
            raise AssertionError(
                f"{owner} has {count} learnable numbers; w_q, w_k, w_v and w_o alone have 4 * ({d_model}*{d_model} + "
                f"{d_model}) = {expected}. All heads share these four matrices (each head uses its own d_head "
                "columns), so there are no per-head layers and no other parameters."
            )


@check
def mha_bad_args(MultiHeadAttention):
    """ValueError naming num_heads when num_heads does not divide d_model."""
    for d_model, H in cases([(10, 4), (12, 5)]):
        expect_value_error(
            lambda: build_module(MultiHeadAttention, "MultiHeadAttention", "attention", "MultiHeadAttention", d_model, H,
                                 explain_errors=False),
            "num_heads", f"MultiHeadAttention({d_model}, num_heads={H})",
            f"{H} heads cannot share {d_model} features equally; check it in __init__",
        )


@check
def mha_self_attention(MultiHeadAttention):
    """Self-attention mha(x, x, x) and mha(q, k, v) with three different inputs of one length, float32 and float64."""
    for dtype in DTYPES:
        for i, (B, T, d_model, H) in enumerate(cases([(3, 5, 8, 2), (2, 3, 12, 4), (2, 6, 15, 3)])):
            mha, W = _mha_setup(MultiHeadAttention, d_model, H, seed=500 + 10 * i, dtype=dtype)
            x = randn(B, T, d_model, seed=501 + 10 * i, dtype=dtype)
            _compare_mha(MultiHeadAttention, mha, W, H, x, x, x, call="mha(x, x, x)", self_attention=True)
            q, k, v = (randn(B, T, d_model, seed=502 + 10 * i + j, dtype=dtype) for j in range(3))
            _compare_mha(MultiHeadAttention, mha, W, H, q, k, v, call="mha(query, key, value) (three different inputs)")


@check
def mha_cross_attention(MultiHeadAttention):
    """Cross-attention mha(decoder_x, encoder_out, encoder_out) with T_q != T_k, and key != value."""
    for dtype in DTYPES:
        for i, (B, T_q, T_k, d_model, H) in enumerate(cases([(3, 4, 7, 8, 2), (2, 5, 3, 12, 4)])):
            mha, W = _mha_setup(MultiHeadAttention, d_model, H, seed=550 + 10 * i, dtype=dtype)
            dec = randn(B, T_q, d_model, seed=551 + 10 * i, dtype=dtype)
            enc = randn(B, T_k, d_model, seed=552 + 10 * i, dtype=dtype)
            _compare_mha(MultiHeadAttention, mha, W, H, dec, enc, enc, call="mha(decoder_x, encoder_out, encoder_out)")
            value = randn(B, T_k, d_model, seed=553 + 10 * i, dtype=dtype)
            _compare_mha(MultiHeadAttention, mha, W, H, dec, enc, value, call="mha(query, key, value) with key != value")
            # The source padding mask of cross-attention.
            keep = _padding(B, T_k, seed=554 + 10 * i)
            _compare_mha(MultiHeadAttention, mha, W, H, dec, enc, enc, keep,
                         call="mha(decoder_x, encoder_out, encoder_out, src_mask)", explain=explain_mask_error)


def _padding(B, T_k, seed) -> torch.Tensor:
    """(B, 1, T_k) key-padding mask: every row keeps a different number (>= 1) of keys."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randperm(T_k, generator=g)[:B] + 1 if B <= T_k else torch.randint(1, T_k + 1, (B,), generator=g)
    lengths[0] = T_k  # one row without padding
    return (torch.arange(T_k)[None, :] < lengths[:, None]).unsqueeze(1)


@check
def mha_masks(MultiHeadAttention):
    """Masks broadcastable to (B, T_q, T_k), shared by all heads: (T, T) causal, (B, 1, T_k) padding, (B, T_q, T_k)."""
    for dtype in DTYPES:
        for i, (B, T, d_model, H) in enumerate(cases([(3, 5, 8, 2), (2, 4, 16, 4), (2, 5, 8, 2)])):  # the last has B == H
            mha, W = _mha_setup(MultiHeadAttention, d_model, H, seed=600 + 10 * i, dtype=dtype)
            x = randn(B, T, d_model, seed=601 + 10 * i, dtype=dtype)
            causal = torch.ones(T, T, dtype=torch.bool).tril()
            padding = _padding(B, T, seed=602 + 10 * i)  # (B, 1, T)
            both = causal & padding  # (B, T, T); every row keeps key 0
            for mask, call in [(causal, "mha(x, x, x, causal_mask)"), (padding, "mha(x, x, x, padding_mask)"),
                               (both, "mha(x, x, x, causal & padding)")]:
                _compare_mha(MultiHeadAttention, mha, W, H, x, x, x, mask, call=call, self_attention=True,
                             explain=explain_mask_error)
            # A general (B, T_q, T_k) mask in cross-attention.
            enc = randn(B, T + 2, d_model, seed=603 + 10 * i, dtype=dtype)
            g = torch.Generator().manual_seed(604 + 10 * i)
            general = torch.rand(B, T, T + 2, generator=g) < 0.6
            general[..., 0] = True  # no fully masked rows
            _compare_mha(MultiHeadAttention, mha, W, H, x, enc, enc, general,
                         call="mha(decoder_x, encoder_out, encoder_out, mask)", explain=explain_mask_error)
