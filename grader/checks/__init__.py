"""The hidden checks: the public checks of `course_check`, run on the trusted side with the grader's own probes.

The check code itself lives in `lib/course_check/` (one module per assignment), so the visible
part of a test cell runs it in the student's kernel on public probes, and the hidden part runs
the same functions here, in the grader's process, on every case with seeds the student never
sees. Importing this package plugs the trust boundary into the checks: the student's objects are
proxies (`grader/boundary/remote.py`) and delegation is read from the submitted text
(`course_check/reading.py`).

`grader.checks.<module>.<check>(...)` (what a hidden block calls) is `course_check.<module>.<check>`
run under `HIDDEN` probes.
"""

from __future__ import annotations

import functools
import importlib

from course_check import boundary, reading
from course_check.common import Probes, using
from grader.boundary import remote

# Every case, on seeds derived from the workspace's secret (`use_hidden_seed`; grading twice in one
# workspace gives the same grades). Outside a workspace (the corpus, in-process tests) a fixed one.
HIDDEN = Probes("hidden", seed_offset=7_919_003, every_case=True)


def use_hidden_seed(secret: int) -> None:
    """Draw the hidden inputs from `secret` (grader/workspace.py keeps one per workspace)."""
    global HIDDEN
    HIDDEN = Probes("hidden", seed_offset=int(secret), every_case=True)


def _submitted_reading() -> reading.Reading | None:
    """The reading of the submission being graded (its code cells, as submitted)."""
    code = remote.submitted_code()
    return reading.read(tuple(code)) if code else None


boundary.install(
    isinstance_=remote.isinstance_,
    issubclass_=remote.issubclass_,
    local=remote.local,
    in_kernel=remote.in_kernel,
    is_remote=remote.is_remote,
    call_options=remote.call_options,
    submitted_reading=_submitted_reading,
)


def hidden(check):
    """`check` run on the grader's probes."""

    @functools.wraps(check)
    def run(*args, **kwargs):
        with using(HIDDEN):
            return check(*args, **kwargs)

    return run


def hidden_module(name: str):
    """A module `__getattr__` that serves `course_check.<name>`'s checks as hidden checks."""
    public = importlib.import_module(f"course_check.{name}")

    def __getattr__(attr: str):
        value = getattr(public, attr)
        return hidden(value) if getattr(value, "is_check", False) else value

    return __getattr__
