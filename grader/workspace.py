"""The grading workspace on disk, and how a grading kernel starts.

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
      reviews.json                    per graded submission, what grader/review.py keeps
      *.json.journal, *.json.lock     changes to those two not yet written into them (gradebook.JsonRecords)
      ipython/profile_default/startup/00-grader.py    a copy of grader/sandboxed/kernel_startup.py
      tasks/                          one gradebook copy per submission while it is graded

`python -m grader release` uses a throw-away course directory whose `source` and `release`
point at `solutions/` and `course/`, so the only thing it writes into the repository is
`course/` (and the student bundle in `dist/`). Paths reach nbgrader through symlinks inside
the course root because nbgrader builds regular expressions from `root/<step>/...` and only
escapes the root: a symlink keeps any characters of the real path out of those expressions.

The grading kernel (the seam where a kernel is started: `kernel_environment` here and
`Execute.kernel_*` in `runner.nbgrader_config`):

- kernel: always `transformer-course` (`settings.KERNEL_NAME`), whatever a submission's metadata says;
- its IPython profile is the workspace's, whose startup file (`grader/sandboxed/kernel_startup.py`)
  caps the kernel's address space (`RLIMIT_AS`, soft and hard) at
  `GRADER_KERNEL_MEMORY_BYTES` (`--memory-limit`, default 4 GiB; `0` means no cap: a kernel that
  has imported torch and run the course code has ~0.8 GB of address space, so 4 GiB leaves room;
  an allocation beyond it raises `MemoryError` in the cell instead of taking the machine down);
  and turns `%matplotlib` into a no-op, closing every figure after each cell;
- figures: matplotlib's non-rendering `agg` backend (`MPLBACKEND`). No test reads a plot, and
  rendering the course's figures to PNG was ~16 % of a notebook's execution time
  (benchmarks/grading.py); the feedback therefore shows no figures.
"""

from __future__ import annotations

import secrets
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from grader.gradebook import JsonRecords
from grader.intake import Submission, without_duplicate_ids
from grader.sandboxed import FOLDER as SANDBOXED
from grader.settings import DEFAULT_WORKSPACE, GraderError

KERNEL_STARTUP = SANDBOXED / "kernel_startup.py"  # runs in the kernel, not here
MEMORY_ENV = "GRADER_KERNEL_MEMORY_BYTES"  # read by sandboxed/kernel_startup.py


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
    def tasks_dir(self) -> Path:
        return self.root / "tasks"

    @property
    def secret_file(self) -> Path:
        return self.root / "hidden-seed.secret"

    def hidden_seed(self) -> int:
        """This workspace's secret: every hidden input is drawn from it (grader/checks). Made at the
        first autograde, kept here only (never in the code or the repository), readable by its owner
        alone; a sandboxed kernel never sees the workspace."""
        try:
            fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return int(self.secret_file.read_text())
        with os.fdopen(fd, "w") as out:
            out.write(f"{secrets.randbits(62)}\n")
        return int(self.secret_file.read_text())

    def prepare(self, source_dir: Path) -> None:
        """Create the folders, point `source` at the solutions and install the kernel startup file."""
        self.root.mkdir(parents=True, exist_ok=True)
        link_dir(self.step("source"), source_dir)
        self.hidden_seed()
        startup = self.ipython_dir / "profile_default" / "startup" / "00-grader.py"
        startup.parent.mkdir(parents=True, exist_ok=True)
        wanted = KERNEL_STARTUP.read_bytes()
        if not startup.exists() or startup.read_bytes() != wanted:
            startup.write_bytes(wanted)

    def stage(self, submission: Submission) -> None:
        """Copy a submission into submitted/<student>/<assignment>/ (nbgrader's layout)."""
        folder = self.step("submitted") / submission.student / submission.assignment
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for name, content in submission.notebooks.items():
            (folder / name).write_bytes(without_duplicate_ids(content))
        if submission.timestamp is not None:
            (folder / "timestamp.txt").write_bytes(submission.timestamp)

    def forget_autograded(self, student: str, assignment: str) -> None:
        shutil.rmtree(self.step("autograded") / student / assignment, ignore_errors=True)

    def load_hashes(self) -> dict[str, str]:
        return JsonRecords(self.hashes).read()

    def save_hashes(self, hashes: dict[str, str]) -> None:
        JsonRecords(self.hashes).write(hashes)


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


def kernel_environment(ipython_dir: Path, memory_limit: int = 0, threads: int = 0) -> dict[str, str]:
    """Environment variables a grading kernel starts with (module docstring): our IPython profile,
    the memory cap for its startup file (bytes, 0 = none), matplotlib's non-rendering backend and,
    with `threads`, the OpenMP/MKL threads of torch and NumPy (the cores divided among the workers:
    kernels that share two cores oversubscribe them otherwise).

    nbgrader itself adds NBGRADER_EXECUTION=autograde around the execution.
    """
    env = {"IPYTHONDIR": str(ipython_dir), "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "agg",
           MEMORY_ENV: str(int(memory_limit))}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by kernels started in this process) for a block."""
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
