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
- `AFTER_EXECUTION`: steps (nbgrader preprocessors) that run right after the notebook has been
  executed, before anything reads its outputs; empty today;
- `OverwriteCells.add_missing_cells`: a deleted test cell is put back and run;
- `LimitOutput`: at most 1000 lines of stream output and 100 traceback lines per cell are kept in
  the graded notebook (a cell printing a million lines does not bloat it or the feedback), and
  `BoundedExecute` keeps at most 256 KB of output per cell and 16 MB per notebook while it runs
  (a single 150 MB line is cut as it arrives);
- sandbox: with `sandbox=`, every grading kernel runs confined by bubblewrap (grader/sandbox.py).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from nbformat.v4 import new_output
from nbgrader.converters import Autograde
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from nbgrader.utils import capture_log
from traitlets import Integer
from traitlets.config import Config

from grader.gradebook import put_environment_tools_on_path, quiet_gradebook
from grader.settings import DEFAULT_CELL_TIMEOUT, KERNEL_NAME

# re.search pattern for IgnorePattern: matches every stderr stream (the empty match at 0 counts).
DROP_ALL_STDERR = r"[\s\S]*"

# nbgrader preprocessors inserted into Autograde right after `Execute` (see the module docstring).
AFTER_EXECUTION: list[type] = []


class BoundedExecute(Execute):
    """nbgrader's Execute, keeping at most `max_cell_output_bytes` of output per cell and
    `max_output_bytes` per notebook *while it runs*, so a cell printing a 150 MB line neither
    bloats the graded notebook and its feedback page nor the grading process. An error output
    is always kept (it is how nbgrader tells that a test failed), with its message cut short;
    the line limit (`LimitOutput`) still applies afterwards."""

    max_cell_output_bytes = Integer(256 * 1024, help="bytes of output kept per cell").tag(config=True)
    max_output_bytes = Integer(16 * 2**20, help="bytes of output kept per notebook").tag(config=True)
    max_error_chars = 2000

    def preprocess(self, nb, resources=None, km=None):
        self._kept: dict[int, int] = {}
        self._total = 0
        return super().preprocess(nb, resources, km)

    def output(self, outs, msg, display_id, cell_index):
        content = msg["content"]
        if msg["msg_type"] == "error":
            content["evalue"] = str(content.get("evalue", ""))[: self.max_error_chars]
            content["traceback"] = [str(line)[: self.max_error_chars] for line in content.get("traceback", [])[:200]]
            return super().output(outs, msg, display_id, cell_index)
        kept = self._kept.get(cell_index, 0)
        room = min(self.max_cell_output_bytes - kept, self.max_output_bytes - self._total)
        if msg["msg_type"] == "stream":
            size = len(content.get("text", ""))
        else:
            size = len(json.dumps(content.get("data", {}), default=str))
        if size <= room:
            self._kept[cell_index] = kept + size
            self._total += size
            return super().output(outs, msg, display_id, cell_index)
        if kept > self.max_cell_output_bytes:  # already cut, and said so
            return None
        if msg["msg_type"] == "stream" and room > 0:
            content["text"] = content["text"][:room]
            super().output(outs, msg, display_id, cell_index)
        self._kept[cell_index] = self.max_cell_output_bytes + 1
        self._total += max(room, 0)
        limit = self.max_cell_output_bytes if room == self.max_cell_output_bytes - kept else self.max_output_bytes
        note = new_output("stream", name="stdout", text=f"\n... Output truncated: more than {limit // 1024} KB ...\n")
        outs.append(note)
        return note


def autograde_steps() -> list[type]:
    """nbgrader's own Autograde steps, `Execute` bounded by bytes (`BoundedExecute`), with
    `AFTER_EXECUTION` right after it."""
    steps = [BoundedExecute if step is Execute else step
             for step in Autograde.class_traits()["autograde_preprocessors"].default()]
    at = steps.index(BoundedExecute) + 1
    return steps[:at] + list(AFTER_EXECUTION) + steps[at:]


def nbgrader_config(root: Path | None = None, db_url: str | None = None, *,
                    cell_timeout: int = DEFAULT_CELL_TIMEOUT, sandbox=None) -> Config:
    """The traitlets configuration every nbgrader converter (and validator) of ours runs with;
    `root` and `db_url` name the course directory and gradebook (not needed to validate). With
    `sandbox` (a grader.sandbox.Sandbox), every kernel runs confined and never sees `root`."""
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

    c.Execute.kernel_name = KERNEL_NAME
    c.Execute.timeout = int(cell_timeout)
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
        sandbox.configure(c, forbidden=[Path(root)] if root is not None else [])
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
    put_environment_tools_on_path()  # the converter may create a gradebook
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
