"""Checks for 02_attention: Q/K/V projections, a stable softmax, scaled dot-product attention.

The notebook's exercises:

- `project_qkv(x, w_q, w_k, w_v)` -> `(q, k, v)` = `(x @ w_q, x @ w_k, x @ w_v)`,
  x `(..., T, d_model)`, w_q and w_k `(d_model, d_k)`, w_v `(d_model, d_v)`;
- `softmax(x, dim=-1)`, numerically stable, without torch's own softmax (subject "softmax");
- `scaled_dot_product_attention(q, k, v, mask=None)` (CONTRACT.md, subject "attention").

Expected values come from float64 oracles written here. Inputs are chosen so that each known
mistake gives a visibly different result: T_q != T_k, d_v != d_k, several leading batch dims,
masks in which every row has both allowed and blocked keys, and, for the stability checks,
queries and keys whose scores are exactly representable in float32 (d_k = 4, so dividing by
sqrt(d_k) = 2 is exact), so that any correct float32 implementation agrees with the oracle to
rounding while a missing maximum subtraction overflows.

While `scaled_dot_product_attention` is graded, the notebook's own `softmax` (if it calls it) is
replaced by this module's oracle, so a softmax mistake costs points only once, in its own tests.
"""

from __future__ import annotations

import contextlib
import math

import torch

from course_check.common import (
    cases,
    DTYPES,
    _isinstance,
    call,
    check,
    distinct,
    expect,
    grade_alone,
    pure,
    randn,
    seeded,
)

_tuple, _list = tuple, list


# The notebook's own earlier helpers each exercise is graded without (`grade_alone` swaps in
# correct ones), so a mistake in a helper costs points only in the helper's own tests.
STAND_INS = {"scaled_dot_product_attention": ("softmax",)}


# ---------------------------------------------------------------------------------------------
# project_qkv
# ---------------------------------------------------------------------------------------------
def _projection_mistakes(x, w_q, w_k, w_v, which: str) -> dict:
    right = {"q": w_q, "k": w_k, "v": w_v}[which]
    out = {}
    if right.shape[0] == right.shape[1]:
        out["you multiplied by the transposed weight (x @ w.T); the lecture's Q = X W^Q multiplies x by w as given, "
            "w having shape (d_model, d_k)"] = x.double() @ right.double().T
    if which == "q":
        out["q was divided by sqrt(d_k); the projection is just q = x @ w_q (the scaling belongs to attention)"] = (
            x.double() @ right.double() / math.sqrt(right.shape[1]))
    for name, other in (("w_q", w_q), ("w_k", w_k), ("w_v", w_v)):
        if other is not right and other.shape == right.shape:
            out[f"{which} was computed with {name}; use w_{which} for {which}"] = x.double() @ other.double()
    return distinct({t: w.to(x.dtype) for t, w in out.items()}, (x.double() @ right.double()).to(x.dtype))


def _check_projection(project_qkv, leading_shapes, seed: int) -> None:
    run = pure(project_qkv, "none", None, ("x", "w_q", "w_k", "w_v"))
    # (d_model, d_k, d_v): a square case (so x @ w.T runs and gives wrong numbers) and rectangular ones.
    for n, (d_model, d_k, d_v) in enumerate(cases([(6, 4, 5), (4, 4, 4), (8, 3, 2)])):
        for dtype in DTYPES:
            w_q = randn(d_model, d_k, seed=seed + 10 * n, dtype=dtype)
            w_k = randn(d_model, d_k, seed=seed + 10 * n + 1, dtype=dtype)
            w_v = randn(d_model, d_v, seed=seed + 10 * n + 2, dtype=dtype)
            for m, lead in enumerate(leading_shapes):
                x = randn(*lead, 5, d_model, seed=seed + 10 * n + 3 + m, dtype=dtype)
                described = (
                    f"project_qkv(x of shape {tuple(x.shape)}, w_q {tuple(w_q.shape)}, w_k {tuple(w_k.shape)}, "
                    f"w_v {tuple(w_v.shape)}) in {dtype}"
                )
                result = call(
                    run, described, x, w_q, w_k, w_v,
                    hint="Multiply x (..., T, d_model) by each weight (d_model, d_k or d_v): q = x @ w_q. "
                         "The @ operator handles any number of leading dimensions.",
                )
                if not _isinstance(result, (_tuple, _list)) or len(result) != 3:
                    raise AssertionError(f"{described} should return the three tensors (q, k, v), but it returned {type(result).__name__}.")
                for which, got, w in zip("qkv", result, (w_q, w_k, w_v)):
                    expect(
                        got, (x.double() @ w.double()).to(dtype), f"{which} from {described}",
                        mistakes=_projection_mistakes(x, w_q, w_k, w_v, which),
                    )


@check
def project_qkv_values(project_qkv):
    """q, k, v = x @ w_q, x @ w_k, x @ w_v for x of shape (T, d_model), with d_k != d_v != d_model."""
    _check_projection(project_qkv, [()], seed=200)


@check
def project_qkv_batch_dims(project_qkv):
    """The same for x with leading batch dimensions (B, T, d_model) and (2, 3, T, d_model)."""
    _check_projection(project_qkv, [(3,), (2, 3)], seed=250)


# ---------------------------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------------------------
def softmax64(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Stable softmax computed in float64 (exp(-inf) = 0 handles -inf entries)."""
    x = x.double()
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def softmax_oracle(x, dim=-1):
    """Stand-in for the notebook's softmax while scaled_dot_product_attention is graded."""
    return softmax64(x, dim).to(x.dtype)


def _softmax_mistakes(x: torch.Tensor, dim: int) -> dict:
    z = x.double()
    e = torch.exp(z - z.amax(dim=dim, keepdim=True))
    out = {
        "you normalised by the sum over the whole tensor instead of along `dim`": e / e.sum(),
        "you exponentiated but did not divide by the sum (the entries must sum to 1 along `dim`)": e,
        "you divided the inputs by their sum without exponentiating them first": z / z.sum(dim=dim, keepdim=True),
    }
    if x.dim() > 1:
        last = -1 if dim % x.dim() != x.dim() - 1 else 0
        what = "the last axis" if last == -1 else "the first axis"
        out[f"you took the softmax over {what} instead of along dim={dim}; use the `dim` argument everywhere"] = softmax64(z, last)
        shifted = torch.exp(z - z.amax(dim=last, keepdim=True))
        out[f"you subtracted the maximum over {what} but summed along dim={dim}; take the maximum along the same "
            "`dim` (keepdim=True)"] = shifted / shifted.sum(dim=dim, keepdim=True)
        with contextlib.suppress(RuntimeError):
            out["you summed without keepdim=True, so the sums were divided along the wrong axis"] = e / e.sum(dim=dim)
    return distinct({t: w.to(x.dtype) for t, w in out.items() if w.shape == x.shape}, softmax64(x, dim).to(x.dtype))


def _run_softmax(softmax):
    return pure(softmax, "softmax", "softmax", ("x",))


def _check_softmax(run, x, dim, described, hint="", **tolerance):
    args, kwargs = (x,), {}
    if dim is not None:
        kwargs["dim"] = dim
    out = call(run, described, *args, hint=hint, **kwargs)
    expect(
        out, softmax64(x, -1 if dim is None else dim).to(x.dtype), described,
        mistakes=_softmax_mistakes(x, -1 if dim is None else dim), hint=hint, **tolerance,
    )


@check
def softmax_values(softmax):
    """softmax(x) over the last axis (the default), for several shapes, float32 and float64."""
    run = _run_softmax(softmax)
    for dtype in DTYPES:
        for n, shape in enumerate(cases([(5,), (3, 7), (4, 4), (2, 3, 6), (2, 2, 3, 5)])):
            x = randn(*shape, seed=300 + n, dtype=dtype, scale=2.0)
            _check_softmax(run, x, None, f"softmax({dtype} x of shape {shape})")


@check
def softmax_dim(softmax):
    """softmax(x, dim=d) along the requested axis: dim = 0, 1, -2, 2 on 2-D and 3-D tensors."""
    run = _run_softmax(softmax)
    for dtype in DTYPES:
        for n, (shape, dim) in enumerate(cases([((4, 5), 0), ((4, 5), 1), ((4, 4), 0), ((2, 3, 4), -2), ((2, 3, 4), 2), ((3, 4, 5), 0)])):
            x = randn(*shape, seed=320 + n, dtype=dtype, scale=2.0)
            _check_softmax(
                run, x, dim, f"softmax({dtype} x of shape {shape}, dim={dim})",
                hint="Use `dim` for the maximum, the exponentials' sum, and keepdim=True so they broadcast back.",
            )


@check
def softmax_stability(softmax):
    """Finite and correct for inputs around +-1e4 (float32) and 1e5 (float64), per-row maxima, -inf entries."""
    run = _run_softmax(softmax)
    # Around 1e4, float32 resolves steps of 0.001 only: a correct method that rounds there
    # (x - logsumexp(x)) differs from subtracting the maximum by up to ~1e-3 relative.
    loose = {"rtol": 3e-3, "atol": 1e-5}
    max_hint = (
        "exp(x) overflows to inf for x above 88 in float32 (710 in float64) and underflows to 0 for very negative x. "
        "Subtract the maximum along `dim` (x.amax(dim, keepdim=True)) before exponentiating: it cancels in the ratio."
    )
    row_hint = (
        "Each row needs its own maximum: with rows around +1e4 and -1e4, subtracting the maximum of the whole "
        "tensor leaves the second row around -2e4, where every exp is 0 and you divide 0 by 0. "
        "Use x.amax(dim=dim, keepdim=True)."
    )
    cases = [
        (1e4 + randn(1, 8, seed=340, scale=3.0), -1, "float32 x of shape (1, 8) around +10000", max_hint, loose),
        (-1e4 + randn(1, 8, seed=341, scale=3.0), -1, "float32 x of shape (1, 8) around -10000", max_hint, loose),
        (randn(3, 6, seed=342, scale=3.0) + torch.tensor([[1e4], [-1e4], [0.0]]), -1,
         "float32 x of shape (3, 6) whose rows are around +10000, -10000 and 0", row_hint, loose),
        (randn(6, 3, seed=343, scale=3.0) + torch.tensor([[1e4, -1e4, 5.0]]), 0,
         "float32 x of shape (6, 3) whose columns are around +10000, -10000 and 5", row_hint, loose),
        (1e5 + randn(2, 5, seed=344, scale=10.0, dtype=torch.float64), -1, "float64 x around 100000", max_hint, {}),
        (randn(2, 3, 5, seed=345, scale=1000.0, dtype=torch.float64), -1, "float64 x with entries of size about 1000", max_hint, {}),
    ]
    for x, dim, described, hint, tolerance in cases:
        _check_softmax(run, x, dim, f"softmax({described}, dim={dim})", hint=hint, **tolerance)
    # -inf entries (how masked attention scores arrive): exp(-inf) = 0, and the rest still sums to 1.
    for dtype in DTYPES:
        x = randn(3, 5, seed=346, dtype=dtype, scale=2.0)
        x = x.masked_fill(torch.tensor([[0, 1, 0, 0, 1], [1, 1, 1, 0, 1], [0, 0, 0, 0, 0]], dtype=torch.bool), -math.inf)
        _check_softmax(
            run, x, -1, f"softmax({dtype} x of shape (3, 5) with some entries -inf, every row having a finite one)",
            hint="An entry of -inf should get probability exactly 0 (exp(-inf) = 0), without producing NaN: "
                 "subtract the row's maximum, which is finite here, not an entry that may be -inf.",
        )


# ---------------------------------------------------------------------------------------------
# scaled_dot_product_attention
# ---------------------------------------------------------------------------------------------
def _attention64(q, k, v, mask=None, *, scale=None, dim=-1, masking="before") -> tuple[torch.Tensor, torch.Tensor]:
    """Attention in float64; the keyword arguments build the known mistakes.

    masking: "before" (correct: -inf before the softmax), "after" (softmax, then zero the masked
    weights without renormalising), "zero" (masked scores set to 0), "inverted" (True = blocked),
    "ignored".
    """
    q, k, v = q.double(), k.double(), v.double()
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(d_k) if scale is None else scale)  # (..., T_q, T_k)
    if mask is not None and masking == "before":
        scores = scores.masked_fill(~mask, -math.inf)
    elif mask is not None and masking == "zero":
        scores = scores.masked_fill(~mask, 0.0)
    elif mask is not None and masking == "inverted":
        scores = scores.masked_fill(mask, torch.finfo(torch.float64).min)
    weights = softmax64(scores, dim)
    if mask is not None and masking == "after":
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights


def _sdpa_mistakes(q, k, v, mask) -> dict:
    d_k, d_v = q.shape[-1], v.shape[-1]
    cases = {
        "the scores were not divided by sqrt(d_k); weights = softmax(q k^T / sqrt(d_k))": {"scale": 1.0},
        "the scores were divided by d_k instead of sqrt(d_k)": {"scale": 1.0 / d_k},
        "the scores were multiplied by sqrt(d_k) instead of divided by it": {"scale": math.sqrt(d_k)},
        "the scores were divided by sqrt(d_v) (the width of v) instead of sqrt(d_k) (the width of q and k)":
            {"scale": 1.0 / math.sqrt(d_v)},
        "the softmax normalises over the queries (dim=-2) instead of over the keys (the last axis, dim=-1)": {"dim": -2},
    }
    if mask is not None:
        cases.update({
            "the mask was applied after the softmax (masked weights zeroed without renormalising, so the rows no longer "
            "sum to 1); fill the masked scores with -inf before the softmax": {"masking": "after"},
            "the masked scores were set to 0 (or multiplied by the mask) instead of -inf; a score of 0 still gets weight "
            "after the softmax. Use scores.masked_fill(~mask, float('-inf'))": {"masking": "zero"},
            "the mask convention is reversed: True means \"may attend\" (like torch's scaled_dot_product_attention), "
            "so block the keys where the mask is False (masked_fill(~mask, ...) or torch.where(mask, scores, -inf))":
                {"masking": "inverted"},
            "the mask was ignored": {"masking": "ignored"},
        })
    return {text: _attention64(q, k, v, mask, **kwargs) for text, kwargs in cases.items()}


_SHAPE_HINT = (
    "q is (..., T_q, d_k), k is (..., T_k, d_k) and v is (..., T_k, d_v), where T_q may differ from T_k and d_v "
    "from d_k, and there may be any number of leading batch dimensions. Transpose only the last two axes of k "
    "(k.transpose(-2, -1)), take d_k = q.shape[-1], and use @ (or torch.matmul), which broadcasts over leading axes."
)


def _check_sdpa(run, q, k, v, mask=None, described: str = "", hint: str = _SHAPE_HINT, **tolerance) -> None:
    dtype = q.dtype
    args = (q, k, v) if mask is None else (q, k, v, mask)
    result = call(run, described, *args, hint=hint)
    if not _isinstance(result, (_tuple, _list)) or len(result) != 2:
        raise AssertionError(
            f"{described} should return a pair (output, weights), but it returned {type(result).__name__}"
            + (f" of length {len(result)}" if _isinstance(result, (_tuple, _list)) else "") + "."
        )
    output, weights = result
    want_out, want_w = _attention64(q, k, v, mask)
    mistakes = _sdpa_mistakes(q, k, v, mask)
    T_q, T_k, d_v = q.shape[-2], k.shape[-2], v.shape[-1]
    lead = tuple(torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], () if mask is None else mask.shape[:-2]))
    if _isinstance(weights, torch.Tensor) and tuple(weights.shape) == (*lead, T_k, T_q) and T_q != T_k:
        raise AssertionError(
            f"The weight matrix returned by {described} has shape {tuple(weights.shape)}, i.e. (..., T_k, T_q): they should be "
            f"(..., T_q, T_k) = {(*lead, T_q, T_k)}, one row per query. Compute q @ k^T, not k @ q^T."
        )
    expect(
        weights, want_w.to(dtype), f"The weight matrix returned by {described}",
        mistakes=distinct({t: w.to(dtype) for t, (_, w) in mistakes.items()}, want_w.to(dtype)), hint=hint, **tolerance,
    )
    expect(
        output, want_out.to(dtype), f"The output returned by {described}",
        mistakes={
            "you multiplied the transposed weights by v; the output is weights @ v": (want_w.transpose(-2, -1) @ v.double()).to(dtype)
        } if T_q == T_k else None,
        hint="output = weights @ v, shape (..., T_q, d_v).", **tolerance,
    )


def _run_sdpa(scaled_dot_product_attention):
    return pure(scaled_dot_product_attention, "attention", "scaled_dot_product_attention", ("q", "k", "v", "mask"))


@contextlib.contextmanager
def _sdpa_runner(scaled_dot_product_attention):
    with grade_alone(scaled_dot_product_attention, {"softmax": softmax_oracle}):
        yield _run_sdpa(scaled_dot_product_attention)


def _qkv(lead, T_q, T_k, d_k, d_v, seed, dtype):
    return (
        randn(*lead, T_q, d_k, seed=seed, dtype=dtype),
        randn(*lead, T_k, d_k, seed=seed + 1, dtype=dtype),
        randn(*lead, T_k, d_v, seed=seed + 2, dtype=dtype),
    )


def _describe(q, k, v, mask=None) -> str:
    text = f"scaled_dot_product_attention(q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
    text += ")" if mask is None else f", mask {tuple(mask.shape)})"
    return text + f" in {q.dtype}"


@check
def sdpa_values(scaled_dot_product_attention):
    """Weights softmax(q k^T / sqrt(d_k)) over the keys and output weights @ v, without a mask; T_q != T_k, d_v != d_k."""
    with _sdpa_runner(scaled_dot_product_attention) as run:
        for dtype in DTYPES:
            for n, (T_q, T_k, d_k, d_v) in enumerate(cases([(3, 5, 4, 6), (4, 4, 16, 16), (2, 6, 9, 3), (5, 3, 64, 2)])):
                q, k, v = _qkv((), T_q, T_k, d_k, d_v, seed=400 + 10 * n, dtype=dtype)
                _check_sdpa(run, q, k, v, described=_describe(q, k, v))


@check
def sdpa_batch_dims(scaled_dot_product_attention):
    """Any number of leading batch dimensions (none, B, (B, H), three), T_q = 1 included."""
    with _sdpa_runner(scaled_dot_product_attention) as run:
        for dtype in DTYPES:
            for n, (lead, T_q, T_k, d_k, d_v) in enumerate(cases([
                ((3,), 4, 6, 8, 5), ((2, 3), 3, 5, 4, 7), ((2, 1, 3), 2, 4, 6, 3), ((2,), 1, 5, 4, 4), ((), 1, 3, 5, 2),
            ])):
                q, k, v = _qkv(lead, T_q, T_k, d_k, d_v, seed=450 + 10 * n, dtype=dtype)
                _check_sdpa(run, q, k, v, described=_describe(q, k, v))


def _random_mask(shape, seed: int) -> torch.Tensor:
    """Random bool mask in which every row (last axis) has at least one True and, if possible, one False."""
    mask = torch.rand(*shape, generator=seeded(seed)) < 0.5
    T_k = shape[-1]
    first = torch.randint(0, T_k, shape[:-1], generator=seeded(seed + 1))
    mask = mask.scatter(-1, first.unsqueeze(-1), True)
    if T_k > 1:
        second = (first + 1 + torch.randint(0, T_k - 1, shape[:-1], generator=seeded(seed + 2))) % T_k
        mask = mask.scatter(-1, second.unsqueeze(-1), False)
    return mask


_MASK_HINT = (
    "Masked keys must get weight exactly 0 and every row must still sum to 1: fill the blocked scores "
    "(where the mask is False) with -inf (or the dtype's most negative value) before the softmax. "
    "The mask broadcasts to (..., T_q, T_k)."
)


@check
def sdpa_mask(scaled_dot_product_attention):
    """Boolean masks (True = may attend) of shapes (T_q, T_k), (B, 1, T_k), (B, T_q, T_k), (B, H, T_q, T_k)."""
    with _sdpa_runner(scaled_dot_product_attention) as run:
        for dtype in DTYPES:
            for n, (lead, T_q, T_k, d_k, d_v, mask_shape) in enumerate(cases([
                ((), 4, 6, 8, 5, (4, 6)),
                ((2,), 3, 5, 4, 6, (3, 5)),
                ((3,), 4, 5, 6, 2, (3, 1, 5)),
                ((2,), 5, 4, 8, 3, (2, 5, 4)),
                ((2, 3), 4, 6, 4, 5, (2, 3, 4, 6)),
                ((2, 3), 3, 5, 6, 4, (2, 1, 1, 5)),
            ])):
                q, k, v = _qkv(lead, T_q, T_k, d_k, d_v, seed=500 + 10 * n, dtype=dtype)
                mask = _random_mask(mask_shape, seed=505 + 10 * n)
                _check_sdpa(run, q, k, v, mask, described=_describe(q, k, v, mask), hint=_MASK_HINT)
            # A causal mask, the one every decoder uses.
            q, k, v = _qkv((2,), 5, 5, 4, 3, seed=590, dtype=dtype)
            causal = torch.ones(5, 5, dtype=torch.bool).tril()
            _check_sdpa(run, q, k, v, causal, described=_describe(q, k, v, causal) + " with a causal mask", hint=_MASK_HINT)


def _large_inputs(scores: torch.Tensor, dtype, d_v: int, seed: int):
    """q, k, v with d_k = 4 and T_k = 4 whose scores q k^T / sqrt(d_k) equal `scores` exactly.

    scores: (..., T_q, 4), numbers exactly representable in float32. The keys are the unit vectors
    e0..e3, so q . e_j / sqrt(4) = q_j / 2: q = 2 * scores, and no rounding happens before the softmax.
    """
    q = (2.0 * scores).to(dtype)  # (..., T_q, 4)
    k = torch.eye(4, dtype=dtype).expand(*scores.shape[:-2], 4, 4).contiguous()  # (..., 4, 4)
    v = randn(*scores.shape[:-2], 4, d_v, seed=seed, dtype=dtype)  # (..., 4, d_v)
    return q, k, v


@check
def sdpa_stability(scaled_dot_product_attention):
    """Finite, correct results for scores around +-1e4 (float32 and float64), with and without a mask."""
    hint = (
        "Scores this large overflow exp() unless you subtract each row's maximum first (torch.softmax does), "
        "and with a mask, masked keys with the largest scores must still get weight 0: fill them with -inf "
        "before the softmax rather than zeroing weights after it."
    )
    offsets = torch.tensor([[0.0, 1.0, -2.0, 0.5], [-1.5, 0.0, 3.0, -0.5], [2.0, 2.0, -1.0, 0.0]])  # (3, 4)
    # Rows mixing +1e4 and -1e4, the mask blocking the largest scores: after the softmax the allowed
    # keys' weights underflow to 0, so masking must happen before it.
    mixed = torch.tensor([
        [1e4, 1e4 + 1.0, -1e4, -1e4 + 2.0],
        [-1e4, -1e4 + 0.5, 1e4 - 1.0, 1e4],
        [1e4 + 3.0, 1e4, 1e4 - 2.0, -1e4],
    ])
    allowed = torch.tensor([[False, False, True, True], [True, True, False, False], [False, True, True, True]])
    with _sdpa_runner(scaled_dot_product_attention) as run:
        for dtype in DTYPES:
            for sign, where in ((1.0, "+10000"), (-1.0, "-10000")):
                q, k, v = _large_inputs((sign * 1e4 + offsets).expand(2, 3, 4), dtype, 3, seed=600)
                _check_sdpa(run, q, k, v, described=_describe(q, k, v) + f" with scores around {where}", hint=hint)
            q, k, v = _large_inputs(mixed.expand(2, 3, 4), dtype, 5, seed=610)
            _check_sdpa(run, q, k, v, described=_describe(q, k, v) + " with scores of +-10000", hint=hint)
            mask = allowed.expand(2, 3, 4)
            _check_sdpa(
                run, q, k, v, mask,
                described=_describe(q, k, v, mask) + " with scores of +-10000, the mask blocking the largest ones",
                hint=hint,
            )
