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
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> AutogradeResult:
    """Grade every submission under `submissions_dir` into `workspace` (see the module docstring);
    `workers` local processes at a time, or on the Dask scheduler at `dask`; every kernel in
    `sandbox` (None: unconfined, after a warning). `kernel`: "forked" (from a warm parent per
    worker), "fresh", or None for forked where this run supports it, else fresh, saying why."""
    if workers < 1:
        raise GraderError(f"--workers must be at least 1, got {workers}")
    if kernel not in (None, *forked.KERNEL_MODES):
        raise GraderError(f"--kernel must be one of {', '.join(forked.KERNEL_MODES)}, got {kernel!r}")
    limits.check()
    if kernel != "fresh":
        reason = forked.unsupported_reason(sandbox, dask)
        if reason and kernel == "forked":
            raise GraderError(f"--kernel forked: {reason}; use --kernel fresh")
        if reason:
            progress(f"fresh kernels: {reason}")
        kernel = "fresh" if reason else "forked"
    if sandbox is not None:
        sandbox.check()  # stops here, naming what is missing, on a machine that cannot sandbox
        if not sandbox.cpu_seconds:  # a backstop per process; the notebook timeout stops the kernel first
            sandbox = replace(sandbox, cpu_seconds=int(2 * limits.notebook_timeout * (os.cpu_count() or 1)))
    else:
        progress(NO_SANDBOX_WARNING)
    source_dir = Path(source_dir).resolve()
    submissions, failures = scan(Path(submissions_dir), source_dir)
    result = AutogradeResult(failures=failures)
    workspace.prepare(source_dir)
    hashes = workspace.load_hashes()
    db_url = workspace.db_url

    todo: list[Submission] = []
    for sub in submissions:
        if not force and hashes.get(sub.key) == sub.digest() and workspace.gradebook.exists():
            score = gradebook.submission_score(db_url, sub.assignment, sub.student)
            if score is not None and (workspace.step("autograded") / sub.student / sub.assignment).is_dir():
                result.graded.append(Graded(sub.student, sub.assignment, *score, unchanged=True))
                continue
        todo.append(sub)
    if not todo:
        progress(f"nothing to grade: {len(result.graded)} submission(s) unchanged since they were graded")
        return result

    workers = min(workers, len(todo))
    # Threads per kernel: this machine's cores among the local workers; on Dask one per task slot
    # (a worker's machine is not known here; the README starts one task per core).
    threads = 1 if dask else forked.threads_per_kernel(workers)
    env = kernel_environment(workspace.ipython_dir, limits.memory_limit, threads)
    # The warm parents and the grading processes' fork server import torch & co while this process
    # fills the gradebook below (seconds each, on the other cores). Here, in the thread that runs the
    # batch: the warm parents die with it. On Dask, each worker starts its own (grader/dask_workers.py).
    warm = cluster = None
    if dask:
        from grader.dask_workers import DaskRun

        cluster = DaskRun(dask, sandbox, execution.tasks_env(env), kernel == "forked")
    elif kernel == "forked":
        try:
            warm = forked.WarmPool(workers, sandbox, {**os.environ, **env})
        except GraderError as error:
            progress(f"fresh kernels: {error}")
    if not dask:
        execution.start_forkserver()
    try:
        # The gradebook learns each assignment (cells, points, hidden tests) from solutions/.
        for assignment in sorted({sub.assignment for sub in todo}):
            try:
                generate(source_dir, workspace.step("release"), [assignment], db_url, workspace.root)
            except GraderError as error:
                result.failures += [Failure(str(s.origin), f"not graded: {error}") for s in todo if s.assignment == assignment]
                todo = [s for s in todo if s.assignment != assignment]
        for sub in todo:
            workspace.stage(sub)
        if not todo:
            return result

        todo = _largest_first(todo, source_dir)
        size = {a: _code_size(source_dir, a) for a in {sub.assignment for sub in todo}}
        estimate = Estimate([(sub.assignment, size[sub.assignment]) for sub in todo], workers)
        by_key = {sub.key: sub for sub in todo}
        tasks = execution.tasks_for([(s.student, s.assignment) for s in todo], workspace.root, workspace.gradebook,
                                    workspace.tasks_dir, limits, env, sandbox)
        start, total, done = time.monotonic(), len(tasks), 0

        def finish(task: execution.Task, outcome: execution.Outcome) -> None:
            nonlocal done
            done += 1
            sub = by_key[f"{task.student}/{task.assignment}"]
            success, error = outcome.success, outcome.error
            if success and outcome.db_url is not None:
                try:
                    gradebook.merge_submission(outcome.db_url, db_url, sub.assignment, sub.student)
                except Exception as problem:  # keep grading the others; this one is listed as failed
                    success, error = False, f"could not merge the task's grades into the gradebook: {problem!r}"
            score = gradebook.submission_score(db_url, sub.assignment, sub.student) if success else None
            if score is None:
                gradebook.forget_submission(db_url, sub.assignment, sub.student)
                workspace.forget_autograded(sub.student, sub.assignment)
                hashes.pop(sub.key, None)
                result.failures.append(Failure(str(sub.origin), error or "nbgrader recorded no grade"))
                verdict = "FAILED"
            else:
                hashes[sub.key] = sub.digest()
                result.graded.append(Graded(sub.student, sub.assignment, *score, seconds=outcome.seconds))
                verdict = f"{score[0]:g}/{score[1]:g}"
            workspace.save_hashes(hashes)
            elapsed = time.monotonic() - start
            estimate.finish(sub.assignment, outcome.seconds)
            progress(f"[{done}/{total}] {sub.key}: {verdict} ({outcome.seconds:.1f} s)  elapsed {_clock(elapsed)}, "
                     f"{estimate.text()}")

        if warm is not None:
            try:
                warm.wait_ready()
            except GraderError as error:
                progress(f"fresh kernels: {error}")
                warm = None
        kernels = "forked kernels" if warm is not None else "fresh kernels"
        if cluster is not None and kernel == "forked":
            on_workers = cluster.kernels()
            fresh = {address: why for address, why in on_workers.items() if why}
            for address, why in sorted(fresh.items()):
                progress(f"fresh kernels on the Dask worker {address}: {why}")
            kernels = "fresh kernels" if len(fresh) == len(on_workers) else "forked kernels"
            if fresh and len(fresh) < len(on_workers):
                kernels += f" (fresh on {len(fresh)} of {len(on_workers)} workers)"
        where = f"on the Dask cluster at {dask}" if dask else f"with {workers} worker(s)"
        confined = "sandboxed" if sandbox is not None else "NOT sandboxed"
        progress(f"grading {total} submission(s) {where}, {limits.describe()}, {confined}, {kernels}; "
                 f"{len(result.graded)} unchanged")
        if cluster is not None:
            cluster.run(tasks, finish)
        else:
            execution.run_locally(tasks, workers, finish, warm)
        return result
    finally:
        if warm is not None:
            warm.close()
        if cluster is not None:
            cluster.close()
        execution.remove_tasks_dir(workspace.tasks_dir)
