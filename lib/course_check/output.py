"""Checks for 07_output: output projection, softmax with temperature, sampling.

Expected values come from float64 oracles written here (a softmax that subtracts the maximum
first). Sampling is checked statistically, never against exact draws of one method: many draws
from a seeded generator are compared with the target distribution by a chi-square test whose
false-failure probability is below 1e-13 per test, so torch.multinomial, inverse-CDF sampling
with torch.rand(generator=...) and Gumbel-max with the generator all pass. Determinism is checked
by comparing the student's draws with the student's own draws.

While `sample_next_token` is graded, the notebook's own `softmax_with_temperature` is replaced by
this module's oracle, so a mistake there costs points only once.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

import transformer_reference
# Helpers shared with add_norm (kept in one place; candidates for common.py): drop mistakes that
# pass as correct, refuse in-place changes of the inputs, grade an exercise with a correct stand-in
# for the notebook's earlier helper.
from course_check.common import (
    cases,
    in_kernel,
    DTYPES,
    DelegationError,
    _getattr,
    _isinstance,
    _issubclass,
    _local,
    call,
    call_backward,
    check,
    distinct,
    expect_close,
    expect_tensor,
    grade_alone,
    is_close,
    load_weights,
    no_delegation,
    pure,
    randn,
    refuse_delegation,
    seeded,
)



# The notebook's own earlier helpers each exercise is graded without (`grade_alone` swaps in
# correct ones), so a mistake in a helper costs points only in the helper's own tests.
STAND_INS = {"sample_next_token": ("softmax_with_temperature",)}


# ---------------------------------------------------------------------------------------------
# Oracles
# ---------------------------------------------------------------------------------------------
def _softmax64(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    z = z.double()
    e = torch.exp(z - z.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def _swt(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """softmax(logits / T) over the last axis, computed in float64, returned in logits' dtype."""
    return _softmax64(logits.double() / temperature).to(logits.dtype)


def _softmax_with_temperature_oracle(logits, temperature=1.0):
    """Stand-in for the notebook's softmax_with_temperature while sample_next_token is graded."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return _swt(logits, temperature)


# ---------------------------------------------------------------------------------------------
# OutputProjection
# ---------------------------------------------------------------------------------------------
def _build(cls, *args, **kwargs):
    if _isinstance(cls, type) and _issubclass(cls, transformer_reference.OutputProjection):
        raise DelegationError(
            "`OutputProjection` is (or inherits from) the course's reference transformer_reference.OutputProjection, "
            "which does this exercise for you, so the exercise scores 0. Write the module yourself."
        )
    refuse_delegation(cls, "none", "OutputProjection")
    with no_delegation("OutputProjection", "none", "OutputProjection"):
        module = cls(*args, **kwargs)
    if not _isinstance(module, nn.Module):
        raise AssertionError(f"OutputProjection(...) should create a torch.nn.Module, but it made a {type(module).__name__}.")
    return module


def _projection_params(proj, d_model: int, vocab_size: int, owner: str):
    weight, bias = _getattr(proj, "weight", None), _getattr(proj, "bias", None)
    for name, value, shape in [("weight", weight, (vocab_size, d_model)), ("bias", bias, (vocab_size,))]:
        if not _isinstance(value, nn.Parameter):
            raise AssertionError(
                f"{owner}.{name} should be an nn.Parameter of shape {shape}, but it is "
                f"{type(value).__name__ if value is not None else 'missing'}."
            )
        if tuple(value.shape) != shape:
            raise AssertionError(
                f"{owner}.{name} has shape {tuple(value.shape)}; it should be {shape} "
                f"({'(V, d_model): one row per token of the vocabulary' if name == 'weight' else '(V,): one per token'})."
            )
    return weight, bias


def _projection_mistakes(x, w, b) -> dict:
    logits = x.double() @ w.double().T + b.double()
    return distinct({
        "the bias is missing: logits = x W^T + b": (x.double() @ w.double().T).to(x.dtype),
        "you returned probabilities (a softmax) instead of logits; the softmax comes later, together "
        "with the temperature": _softmax64(logits).to(x.dtype),
        "you returned log-probabilities (log_softmax) instead of logits": torch.log_softmax(logits, -1).to(x.dtype),
    }, logits.to(x.dtype))


@check
def output_projection_structure(OutputProjection):
    """weight of shape (V, d_model) and bias of shape (V,), both learnable, nothing else."""
    proj = _build(OutputProjection, 6, 11)
    _projection_params(proj, 6, 11, "OutputProjection(6, 11)")
    count = sum(p.numel() for p in proj.parameters())
    if count != 11 * 6 + 11:
        raise AssertionError(
            f"OutputProjection(6, 11) has {count} learnable numbers; weight (11, 6) and bias (11,) have "
            f"{11 * 6 + 11}. Use only `weight` and `bias`."
        )


@check
def output_projection_values(OutputProjection):
    """logits = x W^T + b with weights copied in; float32 and float64; any leading dims."""
    for dtype in DTYPES:
        proj = _build(OutputProjection, 6, 11).to(dtype)
        weight, bias = _projection_params(proj, 6, 11, "OutputProjection(6, 11)")
        w = randn(11, 6, seed=900, dtype=dtype, scale=0.5)
        b = randn(11, seed=901, dtype=dtype, scale=0.5)
        with torch.no_grad():
            weight.copy_(w)
            bias.copy_(b)
        for i, shape in enumerate(cases([(6,), (5, 6), (2, 5, 6), (2, 2, 3, 6)])):
            x = randn(*shape, seed=902 + i, dtype=dtype)
            with no_delegation("OutputProjection", "none", "OutputProjection"):
                logits = proj(x)
            expected = (x.double() @ w.double().T + b.double()).to(dtype)
            expect_close(
                logits, expected, f"OutputProjection(6, 11) on {dtype} x of shape {shape} (logits)",
                mistakes=_projection_mistakes(x, w, b),
            )


@check
def output_projection_tying(OutputProjection):
    """With tied_weight, the projection uses the embedding's own Parameter (shared values and gradients)."""
    w, b, x = randn(11, 6, seed=910), randn(11, seed=911), randn(3, 6, seed=912)
    w_new = randn(11, 6, seed=913)
    described = "OutputProjection(6, 11, tied_weight=embedding.weight)"
    # The embedding is made where the student's class lives, so that its very Parameter is passed in.
    # What is judged are values: the logits, the logits after the embedding's weight is changed
    # through the embedding, and the gradient that reaches the embedding.
    embedding = call(in_kernel, "nn.Embedding(11, 6)", _embedding_beside, OutputProjection, w)
    proj = _build(OutputProjection, 6, 11, tied_weight=embedding.weight)
    _, bias = _projection_params(proj, 6, 11, described)
    with torch.no_grad():
        bias.copy_(b)
    run = _guarded_projection(proj)
    expect_close(call(run, described, x), _logits(x, w, b), f"tied {described} logits (x @ embedding.weight^T + bias)",
                 mistakes=_projection_mistakes(x, w, b))
    load_weights(embedding, {"weight": w_new})
    if not is_close(call(run, described, x), _logits(x, w_new, b)):
        raise AssertionError(
            "With tied_weight, OutputProjection.weight should be the very Parameter that was passed in "
            "(self.weight = tied_weight), so that both layers train one matrix. Yours is a separate copy: after "
            "the embedding's weight changed, your logits did not."
        )
    call_backward(run, f"{described} on x of shape (3, 6)", x)
    grad = _local(embedding.weight.grad)
    if grad is None:
        raise AssertionError(
            "With tied_weight, OutputProjection.weight should be the very Parameter that was passed in "
            "(self.weight = tied_weight). The gradient of your logits does not reach the embedding's weight: "
            "yours shares its memory but is a new Parameter, so the gradients go to two separate leaves."
        )
    expect_close(grad, x.sum(0).expand(11, 6).contiguous(),
                 "the gradient of logits.sum() with respect to the shared weight")


def _logits(x, w, b) -> torch.Tensor:
    return (x.double() @ w.double().T + b.double()).to(x.dtype)


def _guarded_projection(proj):
    def run(x):
        with no_delegation("OutputProjection", "none", "OutputProjection"):
            return proj(x)

    return run


def _embedding_beside(OutputProjection, w) -> nn.Embedding:
    """An embedding with weight `w`, made where `OutputProjection` lives (in the student's kernel)."""
    embedding = nn.Embedding(*w.shape)
    with torch.no_grad():
        embedding.weight.copy_(w)
    return embedding


# ---------------------------------------------------------------------------------------------
# softmax_with_temperature
# ---------------------------------------------------------------------------------------------
def _swt_mistakes(logits, temperature) -> dict:
    z = logits.double()
    mistakes = {
        "you multiplied the logits by the temperature instead of dividing by it": _softmax64(z * temperature),
        "you divided the probabilities by the temperature after the softmax; the temperature divides the "
        "logits, before the softmax": _softmax64(z) / temperature,
        "you raised the probabilities to the power 1/T but did not renormalise them to sum to 1":
            _softmax64(z) ** (1.0 / temperature),
        "you ignored the temperature": _softmax64(z),
        "you divided the logits by the temperature but forgot the softmax": z / temperature,
    }
    if z.dim() > 1:
        mistakes["you took the softmax over the first axis instead of the last (vocabulary) axis"] = _softmax64(
            z / temperature, dim=0
        )
    mistakes = {text: wrong.to(logits.dtype) for text, wrong in mistakes.items()}
    return distinct(mistakes, _swt(logits, temperature))


def _run_swt(softmax_with_temperature):
    return pure(softmax_with_temperature, "none", "softmax_with_temperature", ("logits",))


@check
def swt_values(softmax_with_temperature):
    """softmax(logits / T) over the last axis for several temperatures, float32 and float64."""
    run = _run_swt(softmax_with_temperature)
    for dtype in DTYPES:
        logits = randn(4, 7, seed=920, dtype=dtype, scale=2.0)
        expect_close(
            run(logits), _swt(logits, 1.0), f"softmax_with_temperature(logits) (default temperature 1) for {dtype} logits",
            mistakes=_swt_mistakes(logits, 1.0),
        )
        for temperature in (0.5, 1.0, 2.5):
            expect_close(
                run(logits, temperature), _swt(logits, temperature),
                f"softmax_with_temperature(logits, temperature={temperature}) for {dtype} logits of shape (4, 7)",
                mistakes=_swt_mistakes(logits, temperature),
            )
        expect_close(
            run(logits, temperature=0.8), _swt(logits, 0.8),
            f"softmax_with_temperature(logits, temperature=0.8) (keyword) for {dtype} logits",
            mistakes=_swt_mistakes(logits, 0.8),
        )


@check
def swt_batch_dims(softmax_with_temperature):
    """Any number of leading dims, the input's dtype, the logits left untouched."""
    run = _run_swt(softmax_with_temperature)
    for i, shape in enumerate(cases([(7,), (3, 7), (2, 3, 7), (2, 2, 2, 7)])):
        for dtype in DTYPES:
            logits = randn(*shape, seed=930 + i, dtype=dtype, scale=2.0)
            expect_close(
                run(logits, 0.7), _swt(logits, 0.7), f"softmax_with_temperature(logits, 0.7) for {dtype} logits of shape {shape}",
                mistakes=_swt_mistakes(logits, 0.7),
            )


@check
def swt_stability(softmax_with_temperature):
    """Finite and correct for small temperatures and large logits (float32 and float64)."""
    run = _run_swt(softmax_with_temperature)
    hint = (
        "Dividing by a small temperature makes the logits huge, and exp overflows: subtract each row's maximum "
        "before exponentiating (torch.softmax does this for you), and divide the logits, not the probabilities."
    )
    # Around 10000, float32 resolves steps of 0.001 only, so an exact method such as subtracting the
    # maximum and one that rounds there (z - logsumexp(z)) differ by up to ~1e-3: a looser tolerance.
    loose = {"rtol": 3e-3, "atol": 1e-4}
    cases = [
        (randn(4, 10, seed=940, scale=100.0), 0.01, "float32 logits of size about 100, temperature 0.01", {}),
        (randn(4, 10, seed=941, scale=5.0), 1e-3, "float32 logits, temperature 0.001", {}),
        (1e4 + randn(4, 10, seed=942, scale=3.0), 1.0, "float32 logits around 10000, temperature 1", loose),
        (-1e4 + randn(4, 10, seed=943, scale=3.0), 1.0, "float32 logits around -10000, temperature 1", loose),
        (randn(4, 10, seed=944, scale=1000.0, dtype=torch.float64), 0.01, "float64 logits of size about 1000, temperature 0.01", {}),
        (randn(4, 10, seed=945, scale=3.0), 1e4, "float32 logits, temperature 10000 (nearly uniform)", {}),
    ]
    for logits, temperature, described, tolerance in cases:
        expect_close(
            run(logits, temperature), _swt(logits, temperature), f"softmax_with_temperature for {described}",
            mistakes=_swt_mistakes(logits, temperature), hint=hint, **tolerance,
        )


def _expect_value_error(call, described: str, why: str) -> None:
    try:
        call()
    except AssertionError:
        raise
    except ValueError as err:
        if "temperature" not in str(err).lower():
            raise AssertionError(
                f"{described} raised ValueError({str(err)!r}); the message should name the argument `temperature`."
            ) from None
        return
    except Exception as err:
        raise AssertionError(f"{described} raised {type(err).__name__}; it should raise ValueError naming `temperature` ({why}).") from None
    raise AssertionError(f"{described} returned a result; it should raise ValueError naming `temperature` ({why}).")


@check
def swt_bad_temperature(softmax_with_temperature):
    """ValueError naming temperature when temperature <= 0."""
    run = _run_swt(softmax_with_temperature)
    logits = randn(3, 5, seed=950)
    for temperature in (0, 0.0, -1.0, -0.25):
        _expect_value_error(
            lambda: run(logits, temperature), f"softmax_with_temperature(logits, temperature={temperature!r})",
            "a softmax needs temperature > 0; temperature 0 is greedy decoding, handled by the sampler",
        )


# ---------------------------------------------------------------------------------------------
# sample_next_token
# ---------------------------------------------------------------------------------------------
# Chi-square critical value: for up to 7 degrees of freedom, P(chi2 > 80) < 2e-14, so a correct
# sampler fails this check with negligible probability whatever its method and seed.
_CHI2_LIMIT = 80.0


@contextlib.contextmanager
def _sampler(sample_next_token):
    with grade_alone(sample_next_token, {"softmax_with_temperature": _softmax_with_temperature_oracle}):
        yield pure(sample_next_token, "none", "sample_next_token", ("logits",))


def _expect_ids(ids, shape, vocab_size: int, described: str) -> None:
    if _isinstance(ids, torch.Tensor) and tuple(ids.shape) == (*shape, 1):
        raise AssertionError(
            f"{described} has shape {tuple(ids.shape)}; it should be {tuple(shape)}: one token id per row, without "
            "a trailing axis of size 1 (torch.multinomial returns one; squeeze it)."
        )
    expect_tensor(ids, described, shape=shape)
    if ids.dtype != torch.long:
        raise AssertionError(f"{described} should hold token ids as torch.long (int64), but it has dtype {ids.dtype}.")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise AssertionError(f"{described} contains ids outside 0..{vocab_size - 1} (the vocabulary size is {vocab_size}).")


def _distinct_rows(n_rows: int, vocab_size: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    """Logits whose largest entry beats the second by at least 1 in every row (no near-ties)."""
    base = randn(n_rows, vocab_size, seed=seed, dtype=torch.float64)
    order = base.argsort(dim=-1)
    ranks = torch.empty_like(order).scatter_(-1, order, torch.arange(vocab_size).expand(n_rows, vocab_size).contiguous())
    return (ranks.double() * 1.3 + 0.2 * torch.rand(n_rows, vocab_size, generator=seeded(seed + 1), dtype=torch.float64)).to(dtype)


@check
def sample_greedy(sample_next_token):
    """temperature == 0 returns the argmax (greedy), without dividing by zero."""
    hint = "Temperature 0 means greedy decoding: return logits.argmax(dim=-1) without dividing by the temperature."
    with _sampler(sample_next_token) as run:
        for i, shape in enumerate(cases([(9,), (5, 9), (2, 4, 9)])):
            for dtype in DTYPES:
                logits = _distinct_rows(math.prod(shape[:-1]), 9, seed=960 + i, dtype=dtype).reshape(shape) * 30.0
                for kwargs in ({}, {"generator": seeded(961)}):
                    described = f"sample_next_token(logits of shape {shape}, temperature=0{', generator=g' if kwargs else ''})"
                    ids = call(run, described, logits, 0.0, hint=hint, **kwargs)
                    _expect_ids(ids, shape[:-1], 9, described)
                    want = logits.argmax(dim=-1)
                    if not torch.equal(ids, want):
                        wrong = "" if not torch.equal(ids, logits.argmin(dim=-1)) else " It looks like you took the argmin."
                        raise AssertionError(f"{described} should return the argmax of each row, {want.tolist()}, but returned {ids.tolist()}.{wrong} {hint}")
        ids = call(run, "sample_next_token(logits, temperature=0) with an int 0", _distinct_rows(3, 5, seed=963), 0, hint=hint)
        _expect_ids(ids, (3,), 5, "sample_next_token(logits of shape (3, 5), temperature=0)")


@check
def sample_shapes(sample_next_token):
    """One long id per row for any leading dims, with or without a generator; logits untouched."""
    with _sampler(sample_next_token) as run:
        for i, shape in enumerate(cases([(9,), (5, 9), (2, 4, 9), (2, 2, 2, 9)])):
            for dtype in DTYPES:
                logits = randn(*shape, seed=970 + i, dtype=dtype)
                for temperature, kwargs in [(1.0, {"generator": seeded(971)}), (0.8, {})]:
                    described = f"sample_next_token({dtype} logits of shape {shape}, temperature={temperature}{', generator=g' if kwargs else ''})"
                    ids = call(run, described, logits, temperature, **kwargs)
                    _expect_ids(ids, shape[:-1], 9, described)
        ids = call(run, "sample_next_token(logits) with the default temperature", randn(3, 9, seed=975))
        _expect_ids(ids, (3,), 9, "sample_next_token(logits of shape (3, 9))")


# Three rows with different distributions, kept moderate so every probability at T in {0.5, 1, 2}
# is above 0.03 (expected counts of several hundred: the chi-square approximation is accurate).
_ROWS = torch.tensor([
    [0.6, 0.2, -0.15, 0.45, -0.5, 0.0],
    [-0.25, 0.4, 0.15, -0.1, 0.5, -0.45],
    [0.0, 0.05, 0.1, 0.15, 0.75, -0.3],
], dtype=torch.float64)
_DRAWS = 8000


def _chi2(counts: torch.Tensor, probs: torch.Tensor) -> float:
    expected = probs * counts.sum()
    if (expected <= 0).any():
        return math.inf if (counts[expected <= 0] > 0).any() else float((((counts - expected) ** 2)[expected > 0] / expected[expected > 0]).sum())
    return float(((counts - expected) ** 2 / expected).sum())


def _sampling_mistakes(logits: torch.Tensor, temperature: float) -> dict:
    v = logits.shape[-1]
    out = {
        "you ignored the temperature (these are the frequencies of softmax(logits))": _softmax64(logits),
        "you multiplied the logits by the temperature instead of dividing": _softmax64(logits * temperature),
        "you sampled uniformly, ignoring the logits": torch.full((v,), 1.0 / v, dtype=torch.float64),
    }
    return {text: p for text, p in out.items() if not is_close(p, _softmax64(logits / temperature), rtol=0.0, atol=1e-3)}


def _check_frequencies(run, temperature: float, dtype) -> None:
    logits = _ROWS.to(dtype).expand(_DRAWS, *_ROWS.shape).contiguous()  # (N, 3, V): N independent draws per row
    described = f"sample_next_token({dtype} logits of shape {tuple(logits.shape)}, temperature={temperature}, generator=g)"
    ids = call(run, described, logits, temperature, generator=seeded(980 + int(temperature * 10)))
    _expect_ids(ids, logits.shape[:-1], _ROWS.shape[-1], described)
    for r in range(_ROWS.shape[0]):
        row_logits = _ROWS[r].to(dtype).double()
        counts = torch.bincount(ids[:, r], minlength=_ROWS.shape[-1]).double()
        target = _softmax64(row_logits / temperature)
        stat = _chi2(counts, target)
        if stat <= _CHI2_LIMIT:
            continue
        freq = (counts / counts.sum()).tolist()
        message = (
            f"With temperature={temperature}, the frequencies of {_DRAWS} draws for row {r} are "
            f"{[round(f, 3) for f in freq]}, but softmax(logits / temperature) is {[round(p, 3) for p in target.tolist()]} "
            f"(chi-square {stat:.0f}; a correct sampler stays below {_CHI2_LIMIT:.0f} except with probability < 1e-13)."
        )
        if (counts > 0).sum() == 1 and int(counts.argmax()) == int(target.argmax()):
            message += " You always picked the most likely token: sample (e.g. torch.multinomial) unless temperature == 0."
        else:
            for text, probs in _sampling_mistakes(row_logits, temperature).items():
                if _chi2(counts, probs) <= _CHI2_LIMIT:
                    message += f" It looks like {text}."
                    break
        raise AssertionError(message)


@check
def sample_distribution(sample_next_token):
    """Frequencies of many seeded draws match softmax(logits / T) for T = 0.5, 1, 2 (chi-square test)."""
    with _sampler(sample_next_token) as run:
        for temperature in (0.5, 1.0, 2.0):
            _check_frequencies(run, temperature, torch.float32)
        _check_frequencies(run, 2.0, torch.float64)


@check
def sample_generator(sample_next_token):
    """The same seeded generator gives the same draws whatever the global random state; other seeds differ."""
    with _sampler(sample_next_token) as run:
        logits = randn(400, 6, seed=990)
        for temperature in (1.0, 0.6):
            described = f"sample_next_token(logits of shape (400, 6), temperature={temperature}, generator=g)"
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(1)
                first = call(run, described, logits, temperature, generator=seeded(991))
                torch.manual_seed(2)
                again = call(run, described, logits, temperature, generator=seeded(991))
                other = call(run, described, logits, temperature, generator=seeded(992))
            _expect_ids(first, (400,), 6, described)
            _expect_ids(again, (400,), 6, described)
            _expect_ids(other, (400,), 6, described)
            if not torch.equal(first, again):
                raise AssertionError(
                    "Two generators with the same seed gave different draws: your sampler uses the global random state. "
                    "Pass the generator on (torch.multinomial(..., generator=generator) or torch.rand(..., generator=generator))."
                )
            if torch.equal(first, other):
                raise AssertionError(
                    "Generators with different seeds gave exactly the same 400 draws: use the generator you are given, "
                    "not a new generator or a fixed seed."
                )


@check
def sample_small_temperature(sample_next_token):
    """Small temperatures with large logits: finite probabilities, the largest logit wins."""
    hint = (
        "At small temperatures logits / T is huge: compute the probabilities with a stable softmax (subtract "
        "each row's maximum) before sampling."
    )
    with _sampler(sample_next_token) as run:
        for temperature, dtype, offset in cases([(0.01, torch.float32, 100.0), (1e-3, torch.float32, -100.0), (0.01, torch.float64, 1000.0)]):
            logits = _distinct_rows(64, 8, seed=995, dtype=dtype) + offset
            described = f"sample_next_token({dtype} logits around {offset:g}, temperature={temperature}, generator=g)"
            ids = call(run, described, logits, temperature, generator=seeded(996), hint=hint)
            _expect_ids(ids, (64,), 8, described)
            want = logits.argmax(dim=-1)
            if not torch.equal(ids, want):
                bad = int((ids != want).nonzero()[0, 0])
                raise AssertionError(
                    f"{described}: in row {bad} the largest logit beats the others by at least 1, so at this temperature "
                    f"it has probability 1 - 1e-40, but you drew token {int(ids[bad])} instead of {int(want[bad])}. {hint}"
                )


@check
def sample_bad_temperature(sample_next_token):
    """ValueError naming temperature when temperature < 0."""
    with _sampler(sample_next_token) as run:
        logits = randn(3, 5, seed=999)
        for temperature in (-1.0, -0.5):
            _expect_value_error(
                lambda: run(logits, temperature), f"sample_next_token(logits, temperature={temperature})",
                "temperatures must be >= 0; 0 means greedy decoding",
            )
