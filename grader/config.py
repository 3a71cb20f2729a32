"""Where things live and how nbgrader is configured: the one place for the grader's settings.

nbgrader works inside a *course directory*. Ours is a **workspace** folder (default
`<repo>/workspace/`, git-ignored; `--workspace DIR` chooses another), laid out as

    workspace/
      source -> <repo>/solutions      symlink: nbgrader's source folder is our solutions/
      release/<A>/                    the gradebook's copy of the released notebook (private)
      submitted/<student>/<A>/        submissions, staged by `python -m grader autograde`
      autograded/<student>/<A>/       executed notebooks
      feedback/<student>/<A>/<A>.html
      gradebook.db                    nbgrader's SQLite gradebook
      submissions.json                content hash of every graded submission
      ipython/profile_default/startup/00-grader.py
      workers/                        one gradebook per worker while `--workers N > 1` runs

`python -m grader release` uses a throw-away course directory whose `source` and `release`
point at `solutions/` and `course/`, so the only thing it writes into the repository is
`course/` (and the student bundle in `dist/`). Paths reach nbgrader through symlinks inside
the course root because nbgrader builds regular expressions from `root/<step>/...` and only
escapes the root: a symlink keeps any characters of the real path out of those expressions.

Grading settings (see `nbgrader_config`):

- kernel: always `transformer-course` (`KERNEL_NAME`), whatever a submission's metadata says;
- `Execute.timeout`: 60 s per cell by default (`--timeout`). Every notebook's cells finish in a
  few seconds on a laptop CPU; the capstone trains a reduced schedule when it sees
  `NBGRADER_EXECUTION=autograde` (nbgrader sets it in the kernel's environment) so its training
  cell also fits;
- stderr: a test cell passes unless it raises. nbgrader 0.9.6 gives 0 points to a test cell
  with *any* stderr output (`nbgrader.utils.determine_grade`), so a harmless PyTorch
  `UserWarning` would zero a correct answer. nbgrader's own `IgnorePattern` preprocessor runs
  right after `Execute`; we enable it with a pattern that matches every stderr stream, so
  warnings are dropped before the grade is determined. An exception is an `error` output, not a
  stream, and still fails its test;
- a startup file in the kernel's IPython directory imports `grader.checks.common` before any
  student code runs, so the hidden checks hold the real `torch.allclose` and friends;
- `OverwriteCells.add_missing_cells`: a deleted test cell is put back and run;
- figures: the grading kernel uses matplotlib's non-rendering `agg` backend (`MPLBACKEND`), the
  startup file turns `%matplotlib` into a no-op and closes every figure after each cell. No test
  reads a plot, and rendering the course's figures to PNG was ~16 % of a notebook's execution
  time (benchmarks/grading.py); the feedback therefore shows no figures;
- `LimitOutput`: at most 1000 lines of stream output and 100 traceback lines per cell are kept in
  the graded notebook (a cell printing a million lines does not bloat it or the feedback);
- memory: each grading kernel caps its own address space (`RLIMIT_AS`, soft and hard) in the
  startup file, from `GRADER_KERNEL_MEMORY_BYTES` (`--memory-limit`, default 4 GiB; `0` means no
  cap). A kernel that has imported torch and run the course code has ~0.8 GB of address space, so
  4 GiB leaves room; an allocation beyond it raises `MemoryError` in the cell instead of taking
  the machine down;
- time: besides the per-cell timeout, each submission is graded in a worker process that is
  killed, with its kernel, when it exceeds `--notebook-timeout` (default 600 s). A batch of S
  submissions on N workers therefore finishes within about ceil(S / N) x notebook-timeout.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
COURSE_DIR = REPO_ROOT / "course"
DEFAULT_WORKSPACE = REPO_ROOT / "workspace"
BUNDLE_PATH = REPO_ROOT / "dist" / "transformer-course-student.zip"

# The kernel every notebook names in its metadata; `make` registers it (see the Makefile).
KERNEL_NAME = "transformer-course"
KERNEL_DISPLAY_NAME = "Transformer course (Python 3.11)"

DEFAULT_CELL_TIMEOUT = 60  # seconds per cell
DEFAULT_NOTEBOOK_TIMEOUT = 600  # seconds per submission (all its notebooks), enforced by killing
DEFAULT_MEMORY_LIMIT = 4 * 2**30  # bytes of address space per grading kernel; 0 = no limit
MEMORY_ENV = "GRADER_KERNEL_MEMORY_BYTES"

# nbgrader's rule for grade ids, and ours for assignment and student ids: ASCII letters, digits
# and a few separators, so they are safe as folder names, in CSV files and in nbgrader's regexes.
ASSIGNMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")

# re.search pattern for IgnorePattern: matches every stderr stream (the empty match at 0 counts).
DROP_ALL_STDERR = r"[\s\S]*"

STARTUP_SCRIPT = '''\
"""Runs in the grading kernel before any student code (written by grader/config.py)."""
import os as _os

_limit = int(_os.environ.get("GRADER_KERNEL_MEMORY_BYTES") or 0)
if _limit > 0:  # cap this kernel's address space (soft and hard: student code cannot raise it)
    import resource as _resource

    _resource.setrlimit(_resource.RLIMIT_AS, (_limit, _limit))
    del _resource
del _os, _limit

# Figures are drawn but never rendered (no test reads them): the kernel runs matplotlib's `agg`
# backend, `%matplotlib inline` in a notebook must not switch it back, and figures are closed
# after every cell so they do not pile up.
import warnings as _warnings

_warnings.filterwarnings("ignore", message=".*non-interactive, and thus cannot be shown")
get_ipython().register_magic_function(lambda line="": None, magic_kind="line", magic_name="matplotlib")


def _close_figures():
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


get_ipython().events.register("post_execute", _close_figures)
del _warnings
try:
    import grader.checks.common  # noqa: F401  (captures pristine torch.allclose & co.)
except ModuleNotFoundError as error:
    if error.name not in ("grader", "grader.checks", "grader.checks.common"):
        raise
'''


def _put_environment_tools_on_path() -> None:
    """nbgrader's Gradebook runs the `alembic` command of its own environment: make it findable
    even when the environment is not activated (e.g. `.venv/bin/python -m grader ...`)."""
    bin_dir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = bin_dir + (os.pathsep + path if path else "")


_put_environment_tools_on_path()


class GraderError(Exception):
    """A problem the instructor must fix; the command line prints it as one line and exits 1."""


@dataclass(frozen=True)
class Workspace:
    """An nbgrader course directory outside the repository (see the module docstring)."""

    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike | None) -> "Workspace":
        return cls(Path(path if path is not None else DEFAULT_WORKSPACE).expanduser().resolve())

    @property
    def gradebook(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.gradebook}"

    def step(self, name: str) -> Path:
        """Folder of one nbgrader step: source, release, submitted, autograded, feedback."""
        return self.root / name

    @property
    def hashes(self) -> Path:
        return self.root / "submissions.json"

    @property
    def ipython_dir(self) -> Path:
        return self.root / "ipython"

    @property
    def workers_dir(self) -> Path:
        return self.root / "workers"

    def prepare(self, source_dir: Path) -> None:
        """Create the folders, point `source` at the solutions and write the kernel startup file."""
        self.root.mkdir(parents=True, exist_ok=True)
        link_dir(self.step("source"), source_dir)
        startup = self.ipython_dir / "profile_default" / "startup" / "00-grader.py"
        startup.parent.mkdir(parents=True, exist_ok=True)
        if not startup.exists() or startup.read_text() != STARTUP_SCRIPT:
            startup.write_text(STARTUP_SCRIPT)

    def load_hashes(self) -> dict[str, str]:
        try:
            return json.loads(self.hashes.read_text())
        except FileNotFoundError:
            return {}

    def save_hashes(self, hashes: dict[str, str]) -> None:
        tmp = self.hashes.with_suffix(".tmp")
        tmp.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
        tmp.replace(self.hashes)


def link_dir(link: Path, target: Path) -> None:
    """Make `link` a symlink to the folder `target`, replacing an older link."""
    target = Path(target).resolve()
    if link.is_symlink():
        if link.resolve() == target:
            return
        link.unlink()
    elif link.exists():
        raise GraderError(f"{link}: expected a symlink to {target}, found a real folder; remove it")
    link.symlink_to(target, target_is_directory=True)


def find_assignments(source_dir: Path) -> list[str]:
    """Assignment ids: the folders `source_dir/<A>/` that contain `<A>.ipynb`, sorted."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise GraderError(f"{source_dir}: no such folder of source notebooks")
    return sorted(
        child.name
        for child in source_dir.iterdir()
        if child.is_dir() and ASSIGNMENT_ID.match(child.name) and (child / f"{child.name}.ipynb").is_file()
    )


def assignment_notebooks(source_dir: Path, assignment: str) -> list[str]:
    """Notebook names (without .ipynb) of one assignment, as nbgrader will grade them."""
    return sorted(p.stem for p in (Path(source_dir) / assignment).glob("*.ipynb"))


def parse_size(text: str | int) -> int:
    """Bytes from "4G", "4096M", "512m", "2GB", "1.5G" or a plain number of bytes; 0 or "none" = no limit."""
    if isinstance(text, int):
        return text
    value = str(text).strip().lower().removesuffix("b").removesuffix("i")
    if value in ("", "none", "0", "off", "unlimited"):
        return 0
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    factor = units.get(value[-1], 1)
    number = value[:-1] if value[-1] in units else value
    try:
        size = int(float(number) * factor)
    except ValueError:
        raise GraderError(f"not a memory size: {text!r} (use e.g. 4G, 512M or 0 for no limit)") from None
    if size < 0:
        raise GraderError(f"a memory size cannot be negative: {text!r}")
    return size


def nbgrader_config(root: Path, db_url: str, *, timeout: int = DEFAULT_CELL_TIMEOUT) -> Config:
    """The traitlets configuration every nbgrader converter of ours runs with."""
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.db_url = db_url
    c.CourseDirectory.source_directory = "source"
    c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.submitted_directory = "submitted"
    c.CourseDirectory.autograded_directory = "autograded"
    c.CourseDirectory.feedback_directory = "feedback"

    c.Execute.kernel_name = KERNEL_NAME
    c.Execute.timeout = int(timeout)
    # ipykernel 7 warns on stderr that its TCP sockets are unencrypted (they only listen on
    # localhost); that line would interleave with our progress output.
    c.Execute.extra_arguments = ["--IPKernelApp.log_level=ERROR"]
    c.IgnorePattern.enabled = True
    c.IgnorePattern.pattern = DROP_ALL_STDERR
    c.OverwriteCells.add_missing_cells = True
    c.LimitOutput.enabled = True
    c.LimitOutput.max_lines = 1000
    c.LimitOutput.max_traceback = 100
    # Hidden tests run in this process, never in the student's kernel (grader/boundary/verdicts.py).
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades

    from grader.boundary.verdicts import TrustedExecute

    c.Autograde.autograde_preprocessors = [TrustedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                           SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    c.Autograde.create_student = True
    c.GenerateAssignment.create_assignment = True
    # Feedback: our filter removes traceback frames from grader/library code before the HTML is
    # written (grader/feedback.py explains why).
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades

    from grader.feedback import HideLibraryFrames

    from grader.boundary.sanitize import SanitizeFeedback

    c.GenerateFeedback.preprocessors = [GetGrades, HideLibraryFrames, SanitizeFeedback, CSSHTMLHeaderPreprocessor]
    return c
