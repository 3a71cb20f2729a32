"""How we run nbgrader: its configuration (`nbgrader_config`, the one builder every command
uses) and `run_converter`, which runs one converter (GenerateAssignment, Autograde,
GenerateFeedback) quietly.

nbgrader logs every step at INFO level and, on failure, a traceback followed by a generic
"see the traceback above". The command line wants neither on the screen: it wants a yes/no and,
for a no, one line a person understands. `run_converter` captures the log with nbgrader's own
`capture_log` and `failure_reason` extracts that line.

Grading settings (see `nbgrader_config`):

- kernel: `Execute.kernel_name` is always `transformer-course`; how the kernel starts (its
  environment, startup file, memory cap) is `grader/workspace.py`'s job;
- `Execute.timeout`: 60 s per cell by default (`--timeout`). Every notebook's cells finish in a
  few seconds on a laptop CPU; the capstone notebook trains a reduced schedule when it sees
  `NBGRADER_EXECUTION=autograde` (nbgrader sets it in the kernel's environment) so its training
  cell also fits;
- stderr: a test cell passes unless it raises. nbgrader 0.9.6 gives 0 points to a test cell
  with *any* stderr output (`nbgrader.utils.determine_grade`), so a harmless PyTorch
  `UserWarning` would zero a correct answer. nbgrader's own `IgnorePattern` preprocessor runs
  right after `Execute`; we enable it with a pattern that matches every stderr stream, so
  warnings are dropped before the grade is determined. An exception is an `error` output, not a
  stream, and still fails its test;
- `NOTEBOOK_EXECUTOR`: the step that runs the notebook in the kernel; `autograde_steps` puts it
  where nbgrader's Execute stands, before anything reads the outputs. It is `TrustedExecute`
  (grader/boundary/verdicts.py): the kernel runs the notebook without the hidden tests, which then
  run in this process against the kernel's objects; each test cell's outputs are rewritten from
  that verdict; `SaveTrustedGrades` stands for nbgrader's SaveAutoGrades and marks the tests the
  grader sent to review (the text did not show what the exercise runs) as needing a manual grade;
- `OverwriteCells.add_missing_cells`: a deleted test cell is put back and run;
- `LimitOutput`: at most 1000 lines of stream output and 100 traceback lines per cell are kept in
  the graded notebook (a cell printing a million lines does not bloat it or the feedback), and
  the executor (`verdicts.BoundedExecute`) keeps at most 256 KB of output per cell and 16 MB per
  notebook while it runs (a single 150 MB line is cut as it arrives);
- sandbox: with `sandbox=`, every grading kernel runs confined by bubblewrap (grader/sandbox.py);
  with `warm_parent=` as well, it is forked from a warm parent in its own sandbox (grader/forked.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from nbgrader.converters import Autograde
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute, SaveAutoGrades
from nbgrader.utils import capture_log
from traitlets.config import Config

from grader.boundary.verdicts import SaveTrustedGrades, TrustedExecute
from grader.gradebook import adjust_nbgrader, quiet_gradebook
from grader.settings import DEFAULT_CELL_TIMEOUT, KERNEL_NAME

# re.search pattern for IgnorePattern: matches every stderr stream (the empty match at 0 counts).
DROP_ALL_STDERR = r"[\s\S]*"

# The nbgrader preprocessor that executes a submission (see the module docstring).
NOTEBOOK_EXECUTOR: type = TrustedExecute


def autograde_steps() -> list[type]:
    """nbgrader's own Autograde steps, with `NOTEBOOK_EXECUTOR` in the place of its `Execute`."""
    replaced = {Execute: NOTEBOOK_EXECUTOR, SaveAutoGrades: SaveTrustedGrades}
    return [replaced.get(step, step) for step in Autograde.class_traits()["autograde_preprocessors"].default()]


def nbgrader_config(root: Path | None = None, db_url: str | None = None, *,
                    cell_timeout: int = DEFAULT_CELL_TIMEOUT, sandbox=None, warm_parent: str | None = None) -> Config:
    """The traitlets configuration every nbgrader converter (and validator) of ours runs with;
    `root` and `db_url` name the course directory and gradebook (not needed to validate). With
    `sandbox` (a grader.sandbox.Sandbox), every kernel runs confined and never sees `root`; with
    `warm_parent` too (a grader.forked.WarmParent's socket), kernels are forked from it."""
    c = Config()
    if root is not None:
        c.CourseDirectory.root = str(root)
    if db_url is not None:
        c.CourseDirectory.db_url = db_url
    c.CourseDirectory.source_directory = "source"
    c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.submitted_directory = "submitted"
    c.CourseDirectory.autograded_directory = "autograded"
    c.CourseDirectory.feedback_directory = "feedback"

    # The kernel: its name and arguments here, its environment in workspace.kernel_environment.
    c.Execute.kernel_name = KERNEL_NAME
    c.Execute.timeout = int(cell_timeout)
    # After a cell's reply, nbgrader waits 4 s for its remaining output and then fails the cell; a
    # long output (cut by BoundedExecute as it arrives) on a busy machine can take longer than that.
    c.Execute.iopub_timeout = int(cell_timeout)
    # ipykernel 7 warns on stderr that its TCP sockets are unencrypted (they only listen on
    # localhost); that line would interleave with our progress output.
    c.Execute.extra_arguments = ["--IPKernelApp.log_level=ERROR"]
    c.Autograde.autograde_preprocessors = autograde_steps()
    c.IgnorePattern.enabled = True
    c.IgnorePattern.pattern = DROP_ALL_STDERR
    c.OverwriteCells.add_missing_cells = True
    c.LimitOutput.enabled = True
    c.LimitOutput.max_lines = 1000
    c.LimitOutput.max_traceback = 100
    c.Autograde.create_student = True
    c.GenerateAssignment.create_assignment = True
    if sandbox is not None:
        sandbox.configure(c, forbidden=[Path(root)] if root is not None else [], warm_parent=warm_parent)
    return c


# One logger for every converter we start; no handler of its own, so nothing reaches the terminal
# unless `--verbose` adds one.
LOG = logging.getLogger("grader.nbgrader")
LOG.propagate = False
LOG.setLevel(logging.INFO)
LOG.addHandler(logging.NullHandler())


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
    adjust_nbgrader()  # the converter may create a gradebook
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
