"""The grader's constants and limits: paths, ids, defaults and `GradingLimits`.

Importing this module changes nothing (no environment variables, no files): it only defines
names. Everything that acts lives in the module with that job (workspace.py, gradebook.py, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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

# nbgrader's rule for grade ids, and ours for assignment and student ids: ASCII letters, digits
# and a few separators, so they are safe as folder names, in CSV files and in nbgrader's regexes.
ASSIGNMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")


class GraderError(Exception):
    """A problem the instructor must fix; the command line prints it as one line and exits 1."""


@dataclass(frozen=True)
class GradingLimits:
    """How long and how big one submission's grading may get (`--timeout`, `--notebook-timeout`,
    `--memory-limit`). `check()` raises GraderError naming the option that is out of range."""

    cell_timeout: int = DEFAULT_CELL_TIMEOUT  # seconds per cell; a cell over it is interrupted
    notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT  # seconds per submission; then killed
    memory_limit: int = DEFAULT_MEMORY_LIMIT  # bytes of address space per kernel; 0 = no cap

    def check(self) -> "GradingLimits":
        if self.cell_timeout < 1:
            raise GraderError(f"--timeout must be at least 1 second, got {self.cell_timeout}")
        if self.notebook_timeout <= self.cell_timeout:
            raise GraderError(f"--notebook-timeout ({self.notebook_timeout:g} s) must be longer than the per-cell "
                              f"--timeout ({self.cell_timeout} s)")
        if self.memory_limit < 0:
            raise GraderError(f"--memory-limit cannot be negative, got {self.memory_limit}")
        return self

    def describe(self) -> str:
        memory = f"{self.memory_limit / 2**30:g} GiB per kernel" if self.memory_limit else "no memory limit"
        return f"{self.cell_timeout} s per cell, {self.notebook_timeout:g} s per submission, {memory}"


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
