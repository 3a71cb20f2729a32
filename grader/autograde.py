"""`python -m grader autograde SUBMISSIONS`: grade submissions with nbgrader into the workspace.

Steps: read and check the input (grader/intake.py); skip submissions whose content hash is
unchanged since they were last graded (unless --force); bring the workspace gradebook in line
with solutions/ (nbgrader generate_assignment, which stores the hidden tests that autograde puts
back); copy each submission into workspace/submitted/ (grader/workspace.py); grade each in its
own process, locally or on Dask (grader/execution.py), the largest assignments first; merge each
result into the gradebook (grader/gradebook.py). A submission that fails leaves nothing in the gradebook or in
autograded/, is listed with the reason at the end, and is tried again on the next run.

Every grading kernel runs in a bubblewrap sandbox (grader/sandbox.py) unless `--no-sandbox`; the
command checks that the sandbox can start before it grades anything. Kernels are forked from a warm
parent per worker (grader/forked.py) where the run supports it (`--kernel`), else started fresh.

The pieces, in the order a run uses them: `RunOptions.checked` (the options, the kernel mode, the
sandbox), `_to_grade` (what changed), `Kernels` (warm parents here, or the Dask cluster),
`_register_and_stage` (the gradebook learns the assignments), `_summary`, `Recorder` (each outcome).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from grader import execution, forked, gradebook
from grader.intake import Failure, Submission, assignment_notebooks, scan
from grader.release import generate
from grader.sandbox import Sandbox
from grader.settings import SOLUTIONS_DIR, GraderError, GradingLimits
from grader.workspace import Workspace, kernel_environment


NO_SANDBOX_WARNING = ("warning: --no-sandbox: student code runs with your permissions. A submission can read "
                      "solutions/ and grader/, change the gradebook and other students' results, leave files that "
                      "change later grading, and stop or outlive the grader. Use it only for code you trust.")


@dataclass
class Graded:
    student: str
    assignment: str
    score: float
    max_score: float
    seconds: float = 0.0
    unchanged: bool = False


@dataclass
class AutogradeResult:
    graded: list[Graded] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _code_size(source_dir: Path, assignment: str) -> int:
    """Characters of code in an assignment's source notebooks: the work estimate of grading it."""
    return sum(len(cell.source) for name in assignment_notebooks(source_dir, assignment)
               for cell in nbformat.read(source_dir / assignment / f"{name}.ipynb", as_version=4).cells
               if cell.cell_type == "code")


def _largest_first(todo: list[Submission], source_dir: Path) -> list[Submission]:
    """The submissions of the assignments with the most code in their source notebooks first, so a
    long notebook (the capstone: 3-5x the others) is not left running alone at the end of a batch
    while the other workers idle; in their order otherwise."""
    size = {assignment: _code_size(source_dir, assignment) for assignment in {sub.assignment for sub in todo}}
    return sorted(todo, key=lambda sub: -size[sub.assignment])


class Estimate:
    """The time left, from what grading has taken so far per assignment, not from the number of
    notebooks done: the largest assignments are graded first, so "seconds per notebook so far x
    notebooks left" started several times too high (23 minutes for a 4-minute run).

    An assignment already seen takes the mean seconds of its notebooks; one not seen yet takes its
    code size (`_code_size`) at the seconds per character of the smallest assignment seen (the
    nearest in size to those left, as they come largest first). The work left is shared by the workers. Until notebooks of
    two assignments (or `workers` notebooks of the only one) have finished it says "estimating...".
    """

    def __init__(self, todo: list[tuple[str, int]], workers: int):
        self.left = [assignment for assignment, _ in todo]
        self.size = dict(todo)
        self.workers = workers
        self.seconds: dict[str, list[float]] = {}
        self.last = ""

    def finish(self, assignment: str, seconds: float) -> None:
        self.left.remove(assignment)
        self.seconds.setdefault(assignment, []).append(seconds)
        self.last = assignment

    def text(self) -> str:
        if not self.left:
            return "ETA 0:00"
        one_assignment = len(self.size) == 1
        if len(self.seconds) < 2 and not (one_assignment and len(self.seconds[self.last]) >= self.workers):
            return "ETA estimating..."
        mean = {a: sum(t) / len(t) for a, t in self.seconds.items()}
        nearest = min(mean, key=lambda a: self.size[a])
        per_char = mean[nearest] / max(self.size[nearest], 1)
        work = sum(mean.get(a, self.size[a] * per_char) for a in self.left)
        return f"ETA {_clock(work / self.workers)}"


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RunOptions:
    """How one autograde run grades (the instructor's options; see `autograde`). `checked()` gives
    the options the run goes by: checked, with the kernel mode decided and the sandbox confirmed."""

    source_dir: Path
    limits: GradingLimits
    workers: int
    dask: str | None
    force: bool
    sandbox: Sandbox | None
    kernel: str | None
    progress: Callable[[str], None]

    def checked(self) -> RunOptions:
        """These options with `source_dir` resolved, `kernel` "forked" or "fresh" (saying why fresh
        when the caller left it open) and the sandbox checked on this machine, with its CPU backstop;
        GraderError naming the option that is out of range, or what this machine lacks."""
        if self.workers < 1:
            raise GraderError(f"--workers must be at least 1, got {self.workers}")
        if self.kernel not in (None, *forked.KERNEL_MODES):
            raise GraderError(f"--kernel must be one of {', '.join(forked.KERNEL_MODES)}, got {self.kernel!r}")
        self.limits.check()
        if self.dask:
            try:
                import grader.dask_workers  # noqa: F401  (Dask is imported only for --dask)
            except ImportError as error:
                raise GraderError(f"--dask needs the packages dask and distributed ({error}); install them with "
                                  "pip install -r requirements.txt, or grade on this machine with --workers") from None
        kernel = self._kernel_mode()
        return replace(self, source_dir=Path(self.source_dir).resolve(), kernel=kernel, sandbox=self._sandbox())

    def _kernel_mode(self) -> str:
        """The kernel mode: forked where this run supports it, unless the caller asked for fresh."""
        if self.kernel == "fresh":
            return "fresh"
        reason = forked.unsupported_reason(self.sandbox, self.dask)
        if reason and self.kernel == "forked":
            raise GraderError(f"--kernel forked: {reason}; use --kernel fresh")
        if reason:
            self.progress(f"fresh kernels: {reason}")
        return "fresh" if reason else "forked"

    def _sandbox(self) -> Sandbox | None:
        """The sandbox, checked here, with a CPU-time backstop per process; None after the warning."""
        if self.sandbox is None:
            self.progress(NO_SANDBOX_WARNING)
            return None
        self.sandbox.check()  # stops here, naming what is missing, on a machine that cannot sandbox
        if self.sandbox.cpu_seconds:
            return self.sandbox
        # A backstop per process; the notebook timeout stops the kernel first.
        return replace(self.sandbox, cpu_seconds=int(2 * self.limits.notebook_timeout * (os.cpu_count() or 1)))


def autograde(
    submissions_dir: Path,
    workspace: Workspace,
    *,
    source_dir: Path = SOLUTIONS_DIR,
    limits: GradingLimits = GradingLimits(),
    workers: int = 1,
    dask: str | None = None,
    force: bool = False,
    sandbox: Sandbox | None = Sandbox(),
    kernel: str | None = None,
    progress: Callable[[str], None] = _to_stderr,
) -> AutogradeResult:
    """Grade every submission under `submissions_dir` into `workspace` (see the module docstring);
    `workers` local processes at a time, or on the Dask scheduler at `dask`; every kernel in
    `sandbox` (None: unconfined, after a warning). `kernel`: "forked" (from a warm parent per
    worker), "fresh", or None for forked where this run supports it, else fresh, saying why."""
    options = RunOptions(source_dir, limits, workers, dask, force, sandbox, kernel, progress).checked()
    submissions, failures = scan(Path(submissions_dir), options.source_dir)
    workspace.prepare(options.source_dir)
    hashes = workspace.load_hashes()
    todo, unchanged = _to_grade(submissions, workspace, hashes, options.force)
    result = AutogradeResult(unchanged, failures)
    if not todo:
        options.progress(f"nothing to grade: {len(unchanged)} submission(s) unchanged since they were graded")
        return result
    _grade(todo, workspace, hashes, replace(options, workers=min(options.workers, len(todo))), result)
    return result


def _to_grade(submissions: list[Submission], workspace: Workspace, hashes: dict[str, str],
              force: bool) -> tuple[list[Submission], list[Graded]]:
    """(the submissions to grade, the unchanged ones with their grades): a submission is unchanged
    when its content hash is the one last graded and its grade and autograded/ folder are still
    there; with `force`, none is."""
    todo: list[Submission] = []
    unchanged: list[Graded] = []
    for sub in submissions:
        if not force and hashes.get(sub.key) == sub.digest() and workspace.gradebook.exists():
            score = gradebook.submission_score(workspace.db_url, sub.assignment, sub.student)
            if score is not None and (workspace.step("autograded") / sub.student / sub.assignment).is_dir():
                unchanged.append(Graded(sub.student, sub.assignment, *score, unchanged=True))
                continue
        todo.append(sub)
    return todo, unchanged


def _grade(todo: list[Submission], workspace: Workspace, hashes: dict[str, str], options: RunOptions,
           result: AutogradeResult) -> None:
    """Grade `todo` into `result`: start the kernels, fill the gradebook while they warm up, then
    run the tasks, the largest assignments first, recording each outcome as it ends. Returns with
    the kernels stopped and the tasks' gradebook copies removed, whatever happened."""
    try:
        with Kernels(options, workspace) as kernels:
            todo = _register_and_stage(todo, workspace, options.source_dir, result.failures)
            if not todo:
                return
            todo = _largest_first(todo, options.source_dir)
            tasks = execution.tasks_for([(s.student, s.assignment) for s in todo], workspace.root,
                                        workspace.gradebook, workspace.tasks_dir, options.limits, kernels.env,
                                        options.sandbox)
            record = Recorder(todo, workspace, hashes, options, result)
            kind = kernels.ready()
            options.progress(_summary(len(tasks), options, kind, unchanged=len(result.graded)))
            kernels.run(tasks, record)
    finally:
        execution.remove_tasks_dir(workspace.tasks_dir)


class Kernels:
    """Where this run's kernels come from: on this machine, a warm parent per worker to fork them
    from (forked mode) and the grading processes' fork server; on Dask, the workers, which each
    start their own (grader/dask_workers.py). A context manager: leaving it stops what it started.

    Started in the thread that runs the batch (the warm parents die with it). They import torch &
    co (seconds each, on the other cores) while this process fills the gradebook; `ready()` waits."""

    def __init__(self, options: RunOptions, workspace: Workspace):
        self.options = options
        # Threads per kernel: this machine's cores among the local workers; on Dask one per task slot
        # (a worker's machine is not known here; the README starts one task per core).
        threads = 1 if options.dask else forked.threads_per_kernel(options.workers)
        self.env = kernel_environment(workspace.ipython_dir, options.limits.memory_limit, threads)
        self.warm: forked.WarmPool | None = None
        self.cluster = None  # a DaskRun (grader/dask_workers.py), which imports Dask: only with --dask

    def __enter__(self) -> Kernels:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _start(self) -> None:
        options = self.options
        if options.dask:
            from grader.dask_workers import DaskRun

            self.cluster = DaskRun(options.dask, options.sandbox, execution.tasks_env(self.env),
                                   options.kernel == "forked")
            return
        if options.kernel == "forked":
            try:
                self.warm = forked.WarmPool(options.workers, options.sandbox, {**os.environ, **self.env})
            except GraderError as error:
                options.progress(f"fresh kernels: {error}")
        execution.start_forkserver()

    def ready(self) -> str:
        """Wait until the kernels can start; "forked kernels" or "fresh kernels" for the summary,
        saying on Dask which workers start fresh ones and why. A warm pool that fails falls back to
        fresh kernels, saying why."""
        if self.cluster is not None and self.options.kernel == "forked":
            return self._on_dask_workers()
        if self.warm is not None:
            try:
                self.warm.wait_ready()
            except GraderError as error:  # the pool has closed itself
                self.options.progress(f"fresh kernels: {error}")
                self.warm = None
        return "forked kernels" if self.warm is not None else "fresh kernels"

    def _on_dask_workers(self) -> str:
        """The kernels the Dask workers fork or start, for the summary, saying why a worker starts fresh ones."""
        on_workers = self.cluster.kernels()
        fresh = {address: why for address, why in on_workers.items() if why}
        for address, why in sorted(fresh.items()):
            self.options.progress(f"fresh kernels on the Dask worker {address}: {why}")
        kernels = "fresh kernels" if len(fresh) == len(on_workers) else "forked kernels"
        if fresh and len(fresh) < len(on_workers):
            kernels += f" (fresh on {len(fresh)} of {len(on_workers)} workers)"
        return kernels

    def run(self, tasks: list[execution.Task], record: Callable[[execution.Task, execution.Outcome], None]) -> None:
        """Grade every task here or on Dask; `record` is called in this thread as each ends."""
        if self.cluster is not None:
            self.cluster.run(tasks, record)
        else:
            execution.run_locally(tasks, self.options.workers, record, self.warm)

    def close(self) -> None:
        """Stop the warm parents, or unregister from the Dask workers (which stop theirs)."""
        if self.warm is not None:
            self.warm.close()
        if self.cluster is not None:
            self.cluster.close()


def _register_and_stage(todo: list[Submission], workspace: Workspace, source_dir: Path,
                        failures: list[Failure]) -> list[Submission]:
    """Teach the gradebook each assignment of `todo` from `source_dir` (its cells, points and hidden
    tests: nbgrader generate_assignment) and copy each submission into workspace/submitted/. The
    submissions of an assignment that cannot be generated go to `failures`, not into the list returned."""
    for assignment in sorted({sub.assignment for sub in todo}):
        try:
            generate(source_dir, workspace.step("release"), [assignment], workspace.db_url, workspace.root)
        except GraderError as error:
            failures += [Failure(str(s.origin), f"not graded: {error}") for s in todo if s.assignment == assignment]
            todo = [s for s in todo if s.assignment != assignment]
    for sub in todo:
        workspace.stage(sub)
    return todo


def _summary(total: int, options: RunOptions, kernels: str, unchanged: int) -> str:
    """The line that opens the grading: how many, where, within which limits, confined or not."""
    where = f"on the Dask cluster at {options.dask}" if options.dask else f"with {options.workers} worker(s)"
    confined = "sandboxed" if options.sandbox is not None else "NOT sandboxed"
    return (f"grading {total} submission(s) {where}, {options.limits.describe()}, {confined}, {kernels}; "
            f"{unchanged} unchanged")


class Recorder:
    """Records each submission's outcome as its grading ends (called in the batch's thread): merges
    its grades into the workspace gradebook and its hash into the saved hashes, or, on failure,
    removes every trace of it and lists it in `result.failures`; then prints its progress line.

    Each outcome appends its change to the journals of submissions.json and reviews.json
    (`gradebook.JsonRecords`), which are written whole after the last outcome (and, if a crashed
    run left a journal, when the next run starts): recording an outcome costs the same in a class
    of 100 or of 2,000, and a crash loses nothing."""

    def __init__(self, todo: list[Submission], workspace: Workspace, hashes: dict[str, str],
                 options: RunOptions, result: AutogradeResult):
        self.by_key = {sub.key: sub for sub in todo}
        self.workspace, self.hashes, self.result, self.progress = workspace, hashes, result, options.progress
        self.saved_hashes = gradebook.JsonRecords(workspace.hashes)
        self.reviews = gradebook.review_records(workspace.root)
        self._write_journals()
        size = {a: _code_size(options.source_dir, a) for a in {sub.assignment for sub in todo}}
        self.estimate = Estimate([(sub.assignment, size[sub.assignment]) for sub in todo], options.workers)
        self.start, self.total, self.done = time.monotonic(), len(todo), 0

    def __call__(self, task: execution.Task, outcome: execution.Outcome) -> None:
        self.done += 1
        sub = self.by_key[f"{task.student}/{task.assignment}"]
        success, error = self._merge(sub, outcome)
        score = gradebook.submission_score(self.workspace.db_url, sub.assignment, sub.student) if success else None
        verdict = self._forget(sub, error) if score is None else self._keep(sub, score, outcome.seconds)
        self.saved_hashes.put(sub.key, self.hashes.get(sub.key))
        if self.done == self.total:
            self.saved_hashes.write(self.hashes)
            self._write_journals()
        self.estimate.finish(sub.assignment, outcome.seconds)
        self.progress(f"[{self.done}/{self.total}] {sub.key}: {verdict} ({outcome.seconds:.1f} s)  "
                      f"elapsed {_clock(time.monotonic() - self.start)}, {self.estimate.text()}")

    def _write_journals(self) -> None:
        for records in (self.saved_hashes, self.reviews):
            if records.journal.exists():
                records.write()

    def _merge(self, sub: Submission, outcome: execution.Outcome) -> tuple[bool, str | None]:
        """Merge a successful task's gradebook into the workspace's: (success, why not)."""
        if outcome.success and outcome.db_url is not None:
            try:
                gradebook.merge_submission(outcome.db_url, self.workspace.db_url, sub.assignment, sub.student,
                                           self.reviews)
            except Exception as problem:  # keep grading the others; this one is listed as failed
                return False, f"could not merge the task's grades into the gradebook: {problem!r}"
        return outcome.success, outcome.error

    def _keep(self, sub: Submission, score: tuple[float, float], seconds: float) -> str:
        """Keep a graded submission's grade and remember its hash, so the next run skips it if unchanged."""
        self.hashes[sub.key] = sub.digest()
        self.result.graded.append(Graded(sub.student, sub.assignment, *score, seconds=seconds))
        return f"{score[0]:g}/{score[1]:g}"

    def _forget(self, sub: Submission, error: str | None) -> str:
        """Leave nothing of a failed submission (grades, autograded/, hash), so the next run tries it
        again, and list it with the reason."""
        gradebook.forget_submission(self.workspace.db_url, sub.assignment, sub.student)
        self.workspace.forget_autograded(sub.student, sub.assignment)
        self.hashes.pop(sub.key, None)
        self.result.failures.append(Failure(str(sub.origin), error or "nbgrader recorded no grade"))
        return "FAILED"
