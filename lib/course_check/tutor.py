"""How a visible test speaks to a student in the notebook: a failure in a few lines, a pass in one.

A check that fails raises `AssertionError` with a message in words ("the scores were not divided by
sqrt(d_k)"). IPython would show it after some forty lines of frames inside `course_check`; here the
exception gets IPython's `_render_traceback_` (the protocol IPython uses for any exception that
renders itself), so the notebook, and Validate's dialog, show the message first and nothing else:

    ✗ scaled_dot_product_attention: It looks like the scores were not divided by sqrt(d_k); ...
      The weight matrix returned by scaled_dot_product_attention(q (3, 4), ...) is not correct: at index ...
      (full trace: %env COURSE_CHECK_TRACE=full, then %tb)

An exercise that is not written yet (its stub raises `NotImplementedError`) says which function to
write. A mistake (or an unwritten exercise) that an earlier check of the same exercise has already
shown in full, in this kernel, is one line that points to it ("the same mistake as sdpa_values
above"): Validate lists every failing cell, and four cells repeating one mistake bury it. A passing
check prints one line. Only the visible part of a test cell (the public probes)
speaks this way: the grader's hidden checks and `python -m course_check` keep their own reports.
`course_check.common.check` calls `passed` and `failed`.
"""

from __future__ import annotations

import functools
import os
import sys

FULL_TRACE = "COURSE_CHECK_TRACE"  # %env COURSE_CHECK_TRACE=full: IPython's whole traceback again
_HOW_TO_SEE_ALL = f"  (full trace: %env {FULL_TRACE}=full, then %tb)"
_NOT_WRITTEN = "raised NotImplementedError"
_NAMED = "It looks like"  # how the checks' named mistakes begin (common.diagnose)


def exercise_name(obj) -> str:
    """The name the student wrote (a function or class), or its class's name (a model instance)."""
    name = getattr(obj, "__name__", None)
    return name if isinstance(name, str) else type(obj).__name__


# Within one kernel: exercise -> (the check that showed its failure in full, that failure's first line).
_shown: dict[str, tuple[str, str]] = {}


def _headline(exercise: str, error: BaseException) -> tuple[str, list[str]]:
    """The failure's first line (the named mistake, or the function to write) and its details."""
    message = str(error).strip()
    if isinstance(error, NotImplementedError) or _NOT_WRITTEN in message:
        return f"✗ {exercise} is not written yet: write its body under # YOUR CODE HERE, run it, then this test.", []
    first, *rest = message.splitlines() or [type(error).__name__]
    named = first.find(_NAMED)
    if named > 0:  # "The weights ... are not correct: at index ... It looks like X." -> X first
        first, rest = first[named:], [first[:named].strip(), *rest]
    return f"✗ {exercise}: {first}", rest


def short_form(exercise: str, check: str, error: BaseException, shown_by: str | None = None) -> list[str]:
    """The lines a student sees for a failed check: the named mistake first, then the details
    (input, expected, got), then how to see everything; one line if the check `shown_by` has
    already shown the same first line in full."""
    first, rest = _headline(exercise, error)
    # Validate and the grader run the notebook with NBGRADER_EXECUTION set; no %tb there.
    hint = [] if os.environ.get("NBGRADER_EXECUTION") else [_HOW_TO_SEE_ALL]
    if shown_by is not None and first.startswith(f"✗ {exercise} is not written yet"):
        return [f"✗ {exercise} is not written yet (see {shown_by} above).", *hint]
    if shown_by is not None:  # the cell's source, just above this line, names the exercise
        return [f"✗ the same mistake as {shown_by} above.", *hint]
    return [first, *(f"  {line}" for line in rest), *hint]


def _render(exercise: str, check: str, error: BaseException, shown_by: str | None = None) -> list[str]:
    """IPython's `_render_traceback_` for `error` (while it is shown, or again by %tb)."""
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    if os.environ.get(FULL_TRACE) == "full" and shell is not None:
        return shell.InteractiveTB.structured_traceback(type(error), error, error.__traceback__)
    return short_form(exercise, check, error, shown_by)


def failed(error: BaseException, student_object, check: str) -> None:
    """Give a failed visible check's exception its short rendering (it is raised on unchanged)."""
    exercise = exercise_name(student_object)
    first = _headline(exercise, error)[0]
    earlier = _shown.get(exercise)
    shown_by = earlier[0] if earlier is not None and earlier[1] == first and earlier[0] != check else None
    if shown_by is None:  # this check shows it in full, and is the one later repeats point to
        _shown[exercise] = (check, first)
    # A partial of module-level functions and strings: the exception still pickles.
    error._render_traceback_ = functools.partial(_render, exercise, check, error, shown_by)


def passed(student_object, check: str) -> None:
    exercise = exercise_name(student_object)
    if _shown.get(exercise, ("",))[0] == check:  # fixed: later failures of it no longer point here
        del _shown[exercise]
    print(f"✓ {exercise}: {check} passed (public inputs; grading runs every case on others)")
