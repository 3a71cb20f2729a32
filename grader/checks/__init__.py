"""The hidden checks: the public checks of `course_check`, run on the trusted side with the grader's own probes.

The check code itself lives in `lib/course_check/` (one module per assignment), so the visible
part of a test cell runs it in the student's kernel on public probes, and the hidden part runs
the same functions here, in the grader's process, on every case with seeds the student never
sees. Importing this package plugs the trust boundary into the checks: the student's objects are
proxies (`grader/boundary/remote.py`) and delegation is read from the submitted text
(`grader/boundary/static.py`).

`grader.checks.<module>.<check>(...)` (what a hidden block calls) is `course_check.<module>.<check>`
run under `HIDDEN` probes.
"""

from __future__ import annotations

import functools
import importlib

from course_check import boundary
from course_check.common import Probes, using
from grader.boundary import remote, static

# Every case, on seeds shifted away from the public ones. Fixed, so grading twice gives the same grades.
HIDDEN = Probes("hidden", seed_offset=7_919_003, every_case=True)


def _remote_delegation(obj, name: str, forbidden: list[str], reference: str | None) -> str | None:
    return static.delegation(remote.submitted_code(), name, forbidden, reference)


boundary.install(
    isinstance_=remote.isinstance_,
    issubclass_=remote.issubclass_,
    local=remote.local,
    in_kernel=remote.in_kernel,
    is_remote=remote.is_remote,
    call_options=remote.call_options,
    remote_delegation=_remote_delegation,
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
