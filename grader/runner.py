"""Run one nbgrader converter (GenerateAssignment, Autograde, GenerateFeedback) quietly.

nbgrader logs every step at INFO level and, on failure, a traceback followed by a generic
"see the traceback above". The command line wants neither on the screen: it wants a yes/no and,
for a no, one line a person understands. `run_converter` captures the log with nbgrader's own
`capture_log` and `failure_reason` extracts that line.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import capture_log
from sqlalchemy.exc import SAWarning
from traitlets.config import Config

# One logger for every converter we start; no handler of its own, so nothing reaches the terminal
# unless `--verbose` adds one.
LOG = logging.getLogger("grader.nbgrader")
LOG.propagate = False
LOG.setLevel(logging.INFO)
LOG.addHandler(logging.NullHandler())


@contextmanager
def quiet_gradebook() -> Iterator[None]:
    """Silence the SQLAlchemy warnings nbgrader's gradebook code triggers about its own session
    handling: they say nothing about the grades, and an instructor cannot act on them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=SAWarning)
        yield


@dataclass
class RunResult:
    success: bool
    log: str
    error: str  # one line; empty on success


def run_converter(converter_cls, config: Config, *, force: bool = True, **coursedir_attrs) -> RunResult:
    """Start `converter_cls` (an nbgrader converter) on a CourseDirectory built from `config`.

    `coursedir_attrs` narrow it down, e.g. assignment_id="01_embeddings", student_id="alice";
    `force` redoes work nbgrader would otherwise skip because its output already exists.
    """
    coursedir = CourseDirectory(config=config, log=LOG)
    for name, value in coursedir_attrs.items():
        setattr(coursedir, name, value)
    converter = converter_cls(coursedir=coursedir, config=config, log=LOG)
    converter.force = force
    with quiet_gradebook():
        result = capture_log(converter)
    log = result.get("log", "")
    if result["success"]:
        return RunResult(True, log, "")
    return RunResult(False, log, failure_reason(log, result.get("error", "")))


_TRACEBACK_START = "Traceback (most recent call last):"
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b(:|$)")
_GENERIC = ("Please see the", "There was an error processing assignment")


def failure_reason(log: str, error: str) -> str:
    """The most telling line of a failed nbgrader run: the innermost exception, else its log."""
    lines = log.splitlines()
    # nbgrader logs the real traceback (of the submission's processing) before raising a generic
    # NbGraderException; the last unindented line of that traceback is "SomeError: message".
    for start in (i for i, line in enumerate(lines) if line.endswith(_TRACEBACK_START)):
        body = []
        for line in lines[start + 1 :]:
            if line.startswith("[") and "] " in line[:12]:  # the next log record
                break
            if line.strip():
                body.append(line)
        if body:
            # The exception line is the least indented one (frames and code are indented more).
            indent = min(len(line) - len(line.lstrip()) for line in body)
            exception_lines = [line for line in body if len(line) - len(line.lstrip()) == indent]
            # A multi-line message (nbclient's CellTimeoutError) puts more lines at that indent:
            # prefer the last line that starts like "package.SomeError: ...".
            named = [line for line in exception_lines if _EXCEPTION_LINE.match(line.strip())]
            return _clean((named or exception_lines)[-1])
    errors = [
        line.split("] ", 1)[1]
        for line in lines
        if line.startswith("[ERROR]") and not any(g in line for g in _GENERIC)
    ]
    if errors:
        return _clean(errors[0])
    error_lines = [line for line in error.splitlines() if line and not line.startswith(" ")]
    return _clean(error_lines[-1]) if error_lines else "nbgrader failed without a message"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Exceptions whose own message does not tell an instructor what happened.
_EXPLAINED = {
    "DeadKernelError": "the kernel died while running the notebook (a crash, os._exit, or out of memory)",
    "UnresponsiveKernelError": "the kernel stopped responding and could not be interrupted",
    "CellTimeoutError": "a cell ran past the per-cell --timeout and did not stop when interrupted",
}


def _clean(line: str) -> str:
    line = _ANSI.sub("", line).strip()
    for name, explanation in _EXPLAINED.items():
        if name in line:
            return f"{explanation} [{line}]"
    return line if len(line) <= 300 else line[:297] + "..."


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by kernels and worker processes) for a block."""
    old = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def kernel_environment(ipython_dir: Path, memory_limit: int = 0) -> dict[str, str]:
    """Environment of a grading kernel: our IPython profile (its startup file imports the checks
    and caps the kernel's address space at `memory_limit` bytes, 0 = no cap) and matplotlib's
    non-rendering backend (see grader/config.py).

    nbgrader itself adds NBGRADER_EXECUTION=autograde around the execution.
    """
    return {"IPYTHONDIR": str(ipython_dir), "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "agg",
            "GRADER_KERNEL_MEMORY_BYTES": str(int(memory_limit))}
