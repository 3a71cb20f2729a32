"""Shared machinery of the checks: tolerant comparison, mistake diagnosis, refusal of delegation.

Every check takes the student's object, builds its own seeded inputs, and raises
`AssertionError` with a message a student understands. The same check runs on public probes in
the visible part of a test cell and on the grader's own probes in the hidden part (`probes`,
below). Three helpers do the common work:

- `expect_close(actual, expected, what, mistakes=...)` compares with per-dtype tolerances after
  checking type, dtype, shape and finiteness, and names the common mistake the output matches.
- `no_delegation(subject, reference)` / `refuse_delegation(obj, subject, reference)` fail an
  exercise that hands its subject to a ready-made implementation (CONTRACT.md, "What an exercise
  may not call"), whether the call is written directly, through an alias or through a helper.
- `call`, `pure`, `grade_alone` and `distinct` run student code the same way in every module:
  an exception becomes a sentence, in-place changes of arguments are refused, earlier exercises
  are replaced by correct stand-ins, and only mistakes that differ from the right answer are named.
- `@check` marks a check: it first verifies that the notebook has not rebound the functions the
  checks rely on (`torch.allclose`, `torch.testing.assert_close`, numpy's testing helpers, ...).
- `probes`, `cases` and `seeded` decide the inputs: the public probes (a part of the cases, fixed
  seeds), the grader's (every case, its own seeds) or fresh ones (every case, random seeds).

The grader imports this module in its own process before it grades anything, so the references
captured below are the real ones there. In a student's kernel they are whatever the notebook left.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import dis
import functools
import hashlib
import inspect
import random
import types
from collections.abc import Callable, Iterator

import numpy as np
import numpy.testing
import torch
import torch.nn.functional
import torch.testing

import transformer_reference
from course_check.boundary import resolve as _resolve
from course_check import tutor
from course_check.boundary import seams
from course_check.reading import REVIEW

# ---------------------------------------------------------------------------------------------
# Pristine references, captured at import (before student code runs). `_isinstance` and
# `_issubclass` also answer for the student's objects seen through the trust boundary, by the
# names of their classes, once the grader has installed its seams (course_check/boundary.py).
# ---------------------------------------------------------------------------------------------
def _isinstance(obj, classes) -> bool:
    return seams.isinstance_(obj, classes)


def _issubclass(cls, classes) -> bool:
    return seams.issubclass_(cls, classes)


def _local(value):
    return seams.local(value)


def in_kernel(scenario: Callable, *args, **kwargs):
    """Run a check's own `scenario(*args)` where the student's objects live (here: just call it)."""
    return seams.in_kernel(scenario, *args, **kwargs)


@contextlib.contextmanager
def backward_in_kernel(weights: torch.Tensor | None = None, index: int | None = None):
    """Calls inside the block backpropagate where they ran (graded through the boundary; no-op here)."""
    with seams.call_options(backward={"weights": weights, "index": index}):
        yield


_getattr = builtins.getattr
_detach = torch.Tensor.detach
_to = torch.Tensor.to
_numpy = torch.Tensor.numpy
_np_abs, _np_isfinite, _np_all = np.abs, np.isfinite, np.all
_np_argmax, _np_unravel_index, _np_asarray = np.argmax, np.unravel_index, np.asarray
_np_maximum, _np_subtract = np.maximum, np.subtract

# Attributes a submission might rebind to make comparisons pass; `@check` refuses to grade
# a kernel in which any of them changed.
_WATCHED = {
    (mod, name): _getattr(mod, name)
    for mod, names in [
        (torch, ["allclose", "isclose", "equal", "all", "any", "abs", "isfinite", "softmax", "matmul"]),
        (torch.testing, ["assert_close"]),
        (torch.Tensor, ["allclose", "__eq__", "all", "any", "item", "tolist", "numpy", "detach", "to"]),
        (np, ["allclose", "isclose", "array_equal", "all", "any", "abs", "isfinite", "asarray"]),
        (np.testing, ["assert_allclose", "assert_array_equal", "assert_array_almost_equal", "assert_equal"]),
        (builtins, ["isinstance", "abs", "all", "any", "len", "max", "min", "float", "round"]),
    ]
    for name in names
}


def _qualified(mod: object, name: str) -> str:
    return f"{_getattr(mod, '__name__', type(mod).__name__)}.{name}"


def assert_untampered() -> None:
    """Raise if the kernel's comparison helpers were rebound since the grader started."""
    for (mod, name), original in _WATCHED.items():
        if _getattr(mod, name, None) is not original:
            raise AssertionError(
                f"This notebook replaced {_qualified(mod, name)}, which the tests rely on. "
                "Remove the code that rebinds it; the tests cannot be trusted in this kernel."
            )


def check(fn: Callable) -> Callable:
    """Decorator for checks: refuse to grade a tampered kernel, then run the check."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        assert_untampered()
        if probes() is not PUBLIC or not args:  # the grader's and self-learners' runs report on their own
            return fn(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except (AssertionError, NotImplementedError) as error:
            tutor.failed(error, args[0], fn.__name__)  # the short form a student sees (course_check.tutor)
            raise
        tutor.passed(args[0], fn.__name__)
        return result

    wrapper.is_check = True
    return wrapper


# ---------------------------------------------------------------------------------------------
# Comparison with per-dtype tolerances.
# ---------------------------------------------------------------------------------------------
# Loose enough for any correct formulation (einsum or matmul, -inf or finfo.min, float64
# inside), tight enough that every mistake we know of is far outside.
TOLERANCES = {
    torch.float32: {"rtol": 1e-4, "atol": 1e-5},
    torch.float64: {"rtol": 1e-7, "atol": 1e-9},
}


def _as_float64(t: torch.Tensor) -> np.ndarray:
    t = _local(t)
    return _numpy(_to(_detach(t), device="cpu", dtype=torch.float64))


def _mismatch(actual: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float):
    """Return (index, actual value, expected value, difference) of the worst element, or None."""
    a, e = _as_float64(actual), _as_float64(expected)
    both_inf = (a == e) & ~_np_isfinite(e)  # equal infinities count as close
    diff = _np_abs(_np_subtract(a, e))
    diff[both_inf] = 0.0
    excess = diff - (atol + rtol * _np_abs(e))
    excess[both_inf] = 0.0
    bad = ~(excess <= 0)  # catches NaN too
    if not bad.any():
        return None
    worst = _np_unravel_index(_np_argmax(np.where(bad, np.nan_to_num(excess, nan=np.inf), -np.inf)), a.shape)
    return tuple(int(i) for i in worst), float(a[worst]), float(e[worst]), float(diff[worst])


def is_close(actual, expected: torch.Tensor, rtol: float | None = None, atol: float | None = None) -> bool:
    """True when `actual` is a tensor of `expected`'s shape within tolerance (dtype not checked)."""
    actual = _local(actual)
    if not _isinstance(actual, torch.Tensor) or tuple(actual.shape) != tuple(expected.shape):
        return False
    tol = TOLERANCES.get(expected.dtype, TOLERANCES[torch.float32])
    rtol = tol["rtol"] if rtol is None else rtol
    atol = tol["atol"] if atol is None else atol
    if actual.dtype == torch.bool or expected.dtype == torch.bool:
        return bool((_as_float64(actual) == _as_float64(expected)).all())
    return _mismatch(actual, expected, rtol, atol) is None


def diagnose(actual, mistakes: dict[str, torch.Tensor] | None) -> str | None:
    """Return the description of the first known mistake whose output `actual` matches."""
    for description, wrong in (mistakes or {}).items():
        # A looser tolerance: a mistake is recognised even if computed a little differently.
        if is_close(actual, wrong, rtol=1e-3, atol=1e-4):
            return description
    return None


def expect_tensor(actual, what: str, shape=None, dtype=None) -> None:
    """Check that `actual` is a tensor with the given shape and dtype, naming what is off."""
    actual = _local(actual)
    if not _isinstance(actual, torch.Tensor):
        raise AssertionError(f"{what} should be a torch.Tensor, but it is {type(actual).__name__}.")
    if shape is not None and tuple(actual.shape) != tuple(shape):
        raise AssertionError(f"{what} should have shape {tuple(shape)}, but it has shape {tuple(actual.shape)}.")
    if dtype is not None and actual.dtype != dtype:
        raise AssertionError(f"{what} should have dtype {dtype}, but it has dtype {actual.dtype}.")


def expect_close(
    actual,
    expected: torch.Tensor,
    what: str,
    mistakes: dict[str, torch.Tensor] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    hint: str = "",
) -> None:
    """Compare `actual` with `expected`; on failure say what differs and which mistake it looks like.

    `mistakes` maps a plain-words description ("you did not divide the scores by sqrt(d_k)") to
    the output that mistake produces on the same input.
    """
    actual = _local(actual)
    expect_tensor(actual, what, shape=expected.shape)
    if expected.dtype.is_floating_point and actual.dtype != expected.dtype:
        raise AssertionError(
            f"{what} should keep the input's dtype {expected.dtype}, but it is {actual.dtype}. "
            "Do not convert the result to another precision."
        )
    if expected.dtype == torch.bool:
        if actual.dtype != torch.bool:
            raise AssertionError(f"{what} should be a boolean tensor, but it has dtype {actual.dtype}.")
        if not is_close(actual, expected):
            found = diagnose(actual, mistakes)
            raise AssertionError(
                f"{what} has wrong entries." + (f" It looks like {found}." if found else "") + (f" {hint}" if hint else "")
            )
        return
    tol = TOLERANCES.get(expected.dtype, TOLERANCES[torch.float32])
    rtol = tol["rtol"] if rtol is None else rtol
    atol = tol["atol"] if atol is None else atol
    a = _as_float64(actual)
    if _np_all(_np_isfinite(_as_float64(expected))) and not _np_all(_np_isfinite(a)):
        found = diagnose(actual, mistakes)
        raise AssertionError(
            f"{what} contains NaN or infinite values where the correct result is finite."
            + (f" It looks like {found}." if found else " Large inputs overflow if you exponentiate without subtracting the maximum first.")
            + (f" {hint}" if hint else "")
        )
    bad = _mismatch(actual, expected, rtol, atol)
    if bad is None:
        return
    index, got, want, diff = bad
    found = diagnose(actual, mistakes)
    message = f"{what} is not correct: at index {index} it is {got:.6g}, expected {want:.6g} (difference {diff:.3g})."
    if found:
        message += f" It looks like {found}."
    if hint:
        message += f" {hint}"
    raise AssertionError(message)


# ---------------------------------------------------------------------------------------------
# Refusing delegation (CONTRACT.md, "What an exercise may not call").
# ---------------------------------------------------------------------------------------------
# The ready-made implementations each subject may not use, by the dotted path students see.
FORBIDDEN_CALLS: dict[str, list[str]] = {
    "attention": [
        "torch.nn.functional.scaled_dot_product_attention",
        "torch.nn.MultiheadAttention",
        "torch.nn.functional.multi_head_attention_forward",
    ],
    "norm": [
        "torch.nn.functional.layer_norm",
        "torch.nn.LayerNorm",
        "torch.layer_norm",
        "torch.native_layer_norm",
    ],
    "embedding": ["torch.nn.functional.embedding", "torch.nn.Embedding"],
    "causal": ["torch.nn.Transformer.generate_square_subsequent_mask"],
    "softmax": ["torch.softmax", "torch.nn.functional.softmax", "torch.special.softmax", "torch.Tensor.softmax"],
    "sampling": [],
    # Only the reading (reading.SUBJECTS) refuses these: the checks themselves call `.backward()`.
    "backward": [],
    "none": [],
}
_FORBIDDEN_OBJECTS = {subject: [(path, _resolve(path)) for path in paths] for subject, paths in FORBIDDEN_CALLS.items()}


class DelegationError(AssertionError):
    """The exercise handed its subject to a ready-made implementation."""


class NeedsReview(AssertionError):
    """The text does not show what the exercise runs: 0 points, and a person decides (reading.py)."""


def _delegation_message(exercise: str, path: str) -> str:
    return (
        f"`{exercise}` calls {path}, which does this exercise for you, so the exercise scores 0. "
        "Write the computation yourself from basic operations (torch.matmul, torch.softmax, "
        "indexing, ... are fine unless they are the exercise's own subject)."
    )


def _forbidden(subject: str, reference: str | None) -> list[tuple[str, object]]:
    if subject not in _FORBIDDEN_OBJECTS:
        raise KeyError(f"unknown delegation subject {subject!r}; known: {sorted(_FORBIDDEN_OBJECTS)}")
    found = list(_FORBIDDEN_OBJECTS[subject])
    if reference is not None:
        # The course's own reference of the same component, wherever it is reachable from.
        for module in [transformer_reference, *_reference_modules()]:
            obj = _getattr(module, reference, None)
            if obj is not None and all(obj is not other for _, other in found):
                found.append((f"the course's reference {module.__name__}.{reference}", obj))
    return found


_reference_cache: tuple[int, list[types.ModuleType]] = (-1, [])


def _reference_modules() -> list[types.ModuleType]:
    """The submodules of transformer_reference imported so far (a new one can only grow sys.modules)."""
    global _reference_cache
    import sys

    if _reference_cache[0] != len(sys.modules):
        found = [m for name, m in list(sys.modules.items()) if name.startswith("transformer_reference.") and m is not None]
        _reference_cache = (len(sys.modules), found)
    return _reference_cache[1]


_aliases_cache: tuple[tuple, dict[int, list[tuple[object, str]]]] = ((), {})


def _aliases(target) -> list[tuple[object, str]]:
    """Every (owner, name) under which a module or class of `_alias_owners()` exposes `target`.

    Indexed once per set of owners (scanning torch's namespaces for every check took seconds
    per notebook); an entry is used only while it still holds `target`."""
    global _aliases_cache
    owners = (transformer_reference, *_reference_modules(), torch, torch.nn.functional, torch.special, torch.Tensor)
    if _aliases_cache[0] != owners:
        index: dict[int, list[tuple[object, str]]] = {}
        for owner in owners:
            for name, value in list(vars(owner).items()):
                index.setdefault(id(value), []).append((owner, name))
        _aliases_cache = (owners, index)
    return [(owner, name) for owner, name in _aliases_cache[1].get(id(target), []) if vars(owner).get(name) is target]


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if _isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _functions_of(obj) -> list[types.FunctionType]:
    """The Python functions that make up `obj`: itself, or a class's methods (student-defined)."""
    if _isinstance(obj, types.MethodType):
        obj = obj.__func__
    if _isinstance(obj, types.FunctionType):
        return [obj]
    if inspect.isclass(obj):
        found = []
        for klass in obj.__mro__:
            if klass.__module__.startswith(("torch", "builtins")):
                continue
            for value in vars(klass).values():
                if _isinstance(value, (staticmethod, classmethod)):
                    value = value.__func__
                if _isinstance(value, property):
                    value = value.fget
                if _isinstance(value, types.FunctionType):
                    found.append(value)
        return found
    if _isinstance(obj, torch.nn.Module):
        return _functions_of(type(obj))
    return []


_SENTINEL = object()


def _scan(obj, forbidden: list[tuple[str, object]], seen: set[int]) -> str | None:
    """Return the dotted path of a forbidden object that `obj`'s code reaches, or None.

    Follows global names, attribute chains (`F.scaled_dot_product_attention`,
    `torch.nn.functional.layer_norm`), aliases (`from ... import ... as x`), closures and the
    student's own helper functions and classes defined in the same notebook.
    """
    names: dict[str, str] = {}  # last part of the name -> the first (most canonical) path that ends in it
    for path, _ in forbidden:
        names.setdefault(path.rpartition(".")[2], path)

    def hit(value) -> str | None:
        for path, target in forbidden:
            if value is target:
                return path
        return None

    for fn in _functions_of(obj):
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for direct in [fn.__code__]:
            for code in _code_objects(direct):
                closure = {}
                if code is fn.__code__ and fn.__closure__:
                    for name, cell in zip(code.co_freevars, fn.__closure__):
                        with contextlib.suppress(ValueError):
                            closure[name] = cell.cell_contents
                current = _SENTINEL
                uses_dynamic_lookup = False
                for ins in dis.get_instructions(code):
                    op, arg = ins.opname, ins.argval
                    if op in ("LOAD_GLOBAL", "LOAD_NAME"):
                        current = fn.__globals__.get(arg, _getattr(builtins, arg, _SENTINEL))
                        if arg in ("getattr", "eval", "exec", "__import__"):
                            uses_dynamic_lookup = True
                    elif op in ("LOAD_DEREF", "LOAD_CLASSDEREF"):
                        current = closure.get(arg, _SENTINEL)
                    elif op in ("LOAD_ATTR", "LOAD_METHOD", "IMPORT_FROM"):
                        if current is not _SENTINEL:
                            current = _getattr(current, arg, _SENTINEL)
                        elif arg in names and ins.opname != "IMPORT_FROM":
                            return names[arg]
                        if op == "IMPORT_FROM" and arg in names:
                            return names[arg]
                    elif op == "IMPORT_NAME":
                        import sys

                        current = sys.modules.get(arg, _SENTINEL)
                    elif op == "LOAD_CONST" and _isinstance(arg, str) and uses_dynamic_lookup and arg in names:
                        return names[arg]
                    else:
                        current = _SENTINEL
                    if current is not _SENTINEL:
                        found = hit(current)
                        if found:
                            return found
                        # Follow the student's own helpers defined in the notebook.
                        module = _getattr(current, "__module__", None)
                        if module == fn.__module__ and (
                            _isinstance(current, types.FunctionType) or inspect.isclass(current)
                        ):
                            found = _scan(current, forbidden, seen)
                            if found:
                                return found
    return None


def refuse_delegation(obj, subject: str, reference: str | None = None) -> None:
    """Fail if `obj` (a student function or class) reaches a forbidden implementation, or if the
    notebook's text does not show what it runs (`reading.py`: the same words in the grader, in
    Validate and in `python -m course_check`).

    `subject` is a key of FORBIDDEN_CALLS; `reference` is the name of the same component in
    `transformer_reference` (e.g. "scaled_dot_product_attention"), which is forbidden too.
    """
    if subject not in FORBIDDEN_CALLS:
        raise KeyError(f"unknown delegation subject {subject!r}; known: {sorted(FORBIDDEN_CALLS)}")
    remote = seams.is_remote(obj)
    name = (obj._desc.get("lookup") or obj.__name__) if remote else _getattr(obj, "__name__", type(obj).__name__)
    text = seams.submitted_reading()
    if text is not None and (remote or name in text.bindings or text.everything or text.machinery):
        finding = (text.unreadable(name, text.exercises)
                   or text.delegation(name, subject, reference, FORBIDDEN_CALLS[subject]))
        if finding:
            raise (DelegationError if finding.kind == "delegation" else NeedsReview)(finding.message(name))
    if remote:
        return
    # In the kernel, the objects themselves are at hand too: read their bytecode as a second signal.
    forbidden = _forbidden(subject, reference)
    found = None
    if inspect.isclass(obj):  # `class Mine(nn.LayerNorm): pass` inherits the whole exercise
        found = next((path for klass in obj.__mro__[1:] for path, target in forbidden if klass is target), None)
    found = found or _scan(obj, forbidden, set())
    if found:
        raise DelegationError(_delegation_message(name, found))


def _forbidden_paths(subject: str, reference: str | None) -> list[str]:
    paths = list(FORBIDDEN_CALLS[subject])
    if reference is not None:
        paths += [f"{m.__name__}.{reference}" for m in [transformer_reference, *_reference_modules()]
                  if _getattr(m, reference, None) is not None]
    return paths


@contextlib.contextmanager
def no_delegation(exercise: str, subject: str, reference: str | None = None):
    """Inside this block, any call to a forbidden implementation fails the exercise.

    Complements `refuse_delegation` (which reads code) by watching what actually runs: module
    attributes are swapped for recording wrappers and forbidden classes' `forward` is wrapped.
    """
    calls: list[str] = []
    patches: list[tuple[object, str, object]] = []

    def recorder(path, original):
        @functools.wraps(original)
        def wrapped(*args, **kwargs):
            calls.append(path)
            return original(*args, **kwargs)

        return wrapped

    for path, target in _forbidden(subject, reference):
        if inspect.isclass(target):
            forward = target.__dict__.get("forward")
            if forward is not None:
                patches.append((target, "forward", forward))
                setattr(target, "forward", recorder(path, forward))
            continue
        for owner, name in _aliases(target):  # every module (and class) that exposes it under any name
            patches.append((owner, name, target))
            with contextlib.suppress(AttributeError, TypeError):
                setattr(owner, name, recorder(path, target))
    reported: list[str] = []
    try:
        # Calls into a student's kernel are watched there too: the kernel's word, so only a hint for
        # a person (reading.py is what decides).
        with seams.call_options(forbid=_forbidden_paths(subject, reference), on_forbidden=reported.append):
            yield
    finally:
        for owner, name, value in reversed(patches):
            with contextlib.suppress(AttributeError, TypeError):
                setattr(owner, name, value)
    if calls:
        raise DelegationError(_delegation_message(exercise, calls[0]))
    if reported:
        raise NeedsReview(f"{REVIEW} while the grader called `{exercise}`, your kernel reported a call of "
                          f"{reported[0][:120]}, which the notebook's text does not show. It scores 0 until your "
                          "instructor has looked at it.")


def guarded(obj, subject: str, reference: str | None = None) -> Callable:
    """Refuse delegation in `obj`'s code, then return a callable that runs it under `no_delegation`."""
    refuse_delegation(obj, subject, reference)
    name = _getattr(obj, "__name__", type(obj).__name__)

    @functools.wraps(obj)
    def run(*args, **kwargs):
        with no_delegation(name, subject, reference):
            return obj(*args, **kwargs)

    return run


# ---------------------------------------------------------------------------------------------
# Calling student code.
# ---------------------------------------------------------------------------------------------
def call(run: Callable, described: str, *args, hint: str = "", **kwargs):
    """`run(*args, **kwargs)`; an unexpected exception becomes a message that says what was asked.

    AssertionError (a failed check, a refused delegation) passes through unchanged.
    """
    try:
        return run(*args, **kwargs)
    except AssertionError:
        raise
    except NotImplementedError:
        raise AssertionError(f"{described} raised NotImplementedError: write the exercise first.") from None
    except Exception as err:
        raise AssertionError(f"{described} raised {type(err).__name__}: {str(err)[:300]}. {hint}".strip()) from None


def call_backward(run: Callable, described: str, *args, weights: torch.Tensor | None = None, hint: str = ""):
    """`call(run, ...)`, then backpropagate sum(output * weights) (or output.sum()) where the call ran:
    in the student's kernel for objects seen through the boundary (the tensor arguments then come
    back with their gradients and any in-place change), here for local ones. Only values come back;
    the check judges them against what it computes itself."""
    with backward_in_kernel(weights):
        result = call(run, described, *args, hint=hint)
    # A tensor computed here has a graph; one that came through the boundary is a leaf.
    if _isinstance(result, torch.Tensor) and result.grad_fn is not None:
        call(lambda: (result.sum() if weights is None else (result * weights).sum()).backward(),
             f"the backward pass through {described}", hint=hint)
    return result


def pure(obj, subject: str, reference: str | None, names: tuple[str, ...]) -> Callable:
    """`guarded(...)`, and after every call check that no tensor argument was changed in place.

    `names` are the positional parameter names, used in the message.
    """
    run = guarded(obj, subject, reference)
    label = _getattr(obj, "__name__", type(obj).__name__)

    def checked(*args, **kwargs):
        inputs = [(names[i] if i < len(names) else f"argument {i}", a) for i, a in enumerate(args)] + list(kwargs.items())
        saved = [(name, a, a.clone()) for name, a in inputs if _isinstance(a, torch.Tensor)]
        result = run(*args, **kwargs)
        for name, tensor, before in saved:
            if tensor.shape != before.shape or not torch.equal(tensor, before):
                raise AssertionError(
                    f"{label} changed its input `{name}` in place (for example with `+=`, `/=`, `.div_()` or "
                    "`.masked_fill_()`). Compute new tensors and leave the caller's tensors untouched."
                )
        return result

    return checked


def notebook_namespace(obj):
    """The global namespace and module name of the notebook code that defines `obj` (function or class)."""
    functions = []
    if _isinstance(obj, types.FunctionType):
        functions = [obj]
    elif _isinstance(obj, type):
        for klass in obj.__mro__:
            if klass.__module__.startswith(("torch", "builtins")):
                continue
            functions += [v for v in vars(klass).values() if _isinstance(v, types.FunctionType)]
    for fn in functions:
        return fn.__globals__, fn.__module__
    return None, None


@contextlib.contextmanager
def grade_alone(obj, stand_ins: dict) -> Iterator[None]:
    """While grading `obj`, replace the notebook's own helpers named in `stand_ins` with correct ones.

    Only functions defined in the notebook itself are replaced (not, e.g., a helper imported from
    transformer_reference), so a mistake in an earlier exercise does not cost points a second time.
    """
    if seams.is_remote(obj):  # the kernel swaps them while each call runs
        with seams.call_options(stand_ins=stand_ins):
            yield
        return
    namespace, module = notebook_namespace(obj)
    swapped = {}
    if _isinstance(namespace, dict):
        for name, stand_in in stand_ins.items():
            current = namespace.get(name)
            if _isinstance(current, types.FunctionType) and current.__module__ == module:
                swapped[name] = current
                namespace[name] = stand_in
    try:
        yield
    finally:
        for name, current in swapped.items():
            namespace[name] = current


def load_weights(module, values: dict[str, torch.Tensor]) -> None:
    """Copy each of `values` into the tensor of `module` at its dotted path ("w_q.weight",
    "layers.0.norm1.bias"), in one call where the module lives: for a student's module in the
    kernel that is one request instead of three per tensor."""
    in_kernel(_copy_weights, module, values)


def _copy_weights(module, values: dict) -> None:
    with torch.no_grad():
        for path, value in values.items():
            target = module
            for part in path.split("."):
                target = _getattr(target, part)
            target.copy_(value)


def distinct(mistakes: dict, expected: torch.Tensor) -> dict:
    """Drop mistakes whose output passes as correct on this input (they cannot be the reason for a failure)."""
    return {text: wrong for text, wrong in mistakes.items() if wrong is not None and not is_close(wrong, expected)}


def expect(actual, expected: torch.Tensor, what: str, mistakes: dict | None = None, hint: str = "", **tolerance) -> None:
    """`expect_close`, giving the general `hint` only when no known mistake explains the failure."""
    found = diagnose(actual, mistakes) if _isinstance(actual, torch.Tensor) else None
    expect_close(actual, expected, what, mistakes=mistakes, hint="" if found else hint, **tolerance)


# ---------------------------------------------------------------------------------------------
# Probes: which inputs a check uses.
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Probes:
    """The inputs a check runs on: the seeds (shifted by `seed_offset`) and how many of its cases.

    `every_case` False keeps the first half of each list of cases (rounded up, at least one): the
    visible part of a test cell. The hidden part runs every case with the grader's own offset, so
    it is strictly stronger: more shapes, dtypes and edge cases, on other numbers.
    """

    name: str
    seed_offset: int = 0
    every_case: bool = False


PUBLIC = Probes("public")
# A plain list, not a ContextVar: a check's helper sent into the kernel by value (cloudpickle)
# carries the probes it was sent under.
_current: list[Probes] = [PUBLIC]


def probes() -> Probes:
    return _current[-1]


@contextlib.contextmanager
def using(chosen: Probes) -> Iterator[Probes]:
    """Run the checks inside the block on `chosen` probes."""
    _current.append(chosen)
    try:
        yield chosen
    finally:
        _current.pop()


def fresh_probes() -> Probes:
    """Every case, on seeds nobody has seen (a self-learner's run: `python -m course_check`)."""
    return Probes("fresh", seed_offset=random.SystemRandom().randrange(1, 2**31), every_case=True)


def cases(items) -> list:
    """The cases of a check the current probes run: all of them, or the first half (rounded up)."""
    items = list(items)
    return items if probes().every_case else items[: max(1, (len(items) + 1) // 2)]


# ---------------------------------------------------------------------------------------------
# Small helpers for building inputs.
# ---------------------------------------------------------------------------------------------
def seeded(seed: int) -> torch.Generator:
    """A CPU generator for the check's own `seed` under the current probes, so checks never depend
    on the global RNG state. Under the grader's and fresh probes the seed is a one-way mix of the
    probes' secret offset and `seed`: a generator's `initial_seed()`, if student code reads it,
    tells nothing about the other inputs."""
    offset = probes().seed_offset
    if offset == 0:
        return torch.Generator().manual_seed(seed)
    digest = hashlib.blake2b(f"{offset}:{seed}".encode(), digest_size=7).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little"))


def randn(*shape: int, seed: int, dtype: torch.dtype = torch.float32, scale: float = 1.0) -> torch.Tensor:
    """Standard-normal tensor from its own seeded generator (independent of student RNG use)."""
    return (torch.randn(*shape, generator=seeded(seed), dtype=torch.float64) * scale).to(dtype)


DTYPES = (torch.float32, torch.float64)
