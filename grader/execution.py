"""Grading one submission, and running many: `grade_one` is the one task, run by a local pool of
threads (`--workers N`) or by a Dask cluster (`--dask ADDRESS`).

`grade_one` grades a submission in a fresh process that runs nbgrader's Autograde converter into
the task's own copy of the gradebook. The process is forked from a warm fork server (nbgrader
already imported; on Dask, each worker's, started by grader/dask_workers.py), or started as
`python -m grader.execution` inside a daemonic process, which may not fork children of its own.
Guarantees:

- time: the process is killed together with everything it started (its kernel) when the
  submission takes longer than `--notebook-timeout` (default 600 s), besides nbgrader's per-cell
  `--timeout`. A batch of S submissions on N workers finishes within about
  ceil(S / N) x notebook-timeout;
- isolation: a process that dies, or is killed, loses only its own submission, which is
  reported with the reason; the others are unaffected;
- one writer: SQLite takes one writer at a time, so every task grades into a copy of the
  gradebook made before any result was merged; the caller merges each finished submission into
  the real gradebook (`gradebook.merge_submission`) as results arrive.

A Dask worker runs the very same function (grader/dask_workers.py): it needs the workspace at the
same path and the course installed.

Kernels: fresh ones (each started by its grading process), or, with the sandbox, forked from a warm
parent per worker (`run_locally(..., warm=WarmPool)`, grader/forked.py; on Dask, per task slot of
each Dask worker): a task borrows a free warm parent and hands its socket to the grading process
(`Task.warm_parent`).
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from nbgrader.converters import Autograde

from grader import checks
from grader.forked import WarmPool
from grader.runner import nbgrader_config, run_converter
from grader.sandbox import Sandbox
from grader.settings import GradingLimits
from grader.workspace import Workspace


@dataclass(frozen=True)
class Task:
    """One submission to grade: everything `grade_one` needs, as plain data (it may travel to Dask)."""

    student: str
    assignment: str
    root: str  # the workspace (nbgrader course directory)
    base_db: str  # the gradebook as it was before grading started; copied for this task
    db_path: str  # this task's own gradebook copy
    cell_timeout: int
    notebook_timeout: float
    env: dict[str, str]  # added to the environment of the grading process (and so of its kernel)
    sandbox: dict | None = None  # the fields of the Sandbox every kernel runs in (grader/sandbox.py); None: none
    warm_parent: str | None = None  # the socket of the warm parent that forks its kernel (grader/forked.py); None: fresh


@dataclass(frozen=True)
class Outcome:
    success: bool
    error: str  # one line; empty on success
    seconds: float
    db_url: str | None  # the task's gradebook, to merge from, when it succeeded


# pids of the grading processes this process is waiting for, so an interrupted batch can kill them.
_running: set[int] = set()
_lock = threading.Lock()
_FORKSERVER = None
_PR_SET_PDEATHSIG = 1  # prctl(2)


def _kill_tree(pid: int) -> None:
    try:
        import psutil

        root = psutil.Process(pid)
        for proc in root.children(recursive=True) + [root]:
            try:
                proc.kill()
            except psutil.Error:
                pass
    except Exception:
        pass


def _forkserver():
    """multiprocessing's fork server, with nbgrader imported once in it: a grading process forked
    from it starts in milliseconds instead of the ~2 s of CPU a fresh interpreter spends importing
    nbgrader (jsonschema's format checkers alone take most of it)."""
    global _FORKSERVER
    with _lock:
        if _FORKSERVER is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["grader.grading_preload"])
            _FORKSERVER = context
    return _FORKSERVER


def start_forkserver() -> None:
    """Start the fork server now (it imports what grading needs, seconds) rather than at the first task."""
    from multiprocessing import forkserver

    _forkserver()
    forkserver.ensure_running()


def stop_forkserver() -> None:
    """End the fork server (a Dask worker outlives its run: the next run's grading processes must
    import the grader's checks as they are then, not as they were when this one started)."""
    from multiprocessing import forkserver

    forkserver._forkserver._stop()  # private, and the only way to end it (Python 3.11 has it)


class _GradingProcess:
    """One grading process: forked from the warm fork server, or, where this process may not have
    children of its own (a daemonic process, such as a Dask worker without our plugin), started as
    `python -m grader.execution`.
    Either way it runs `_grade` with the environment `env` and reports [success, error]."""

    def __init__(self, arguments: str, env: dict[str, str]):
        self.popen = self.process = self.conn = None
        if multiprocessing.current_process().daemon:
            self.popen = subprocess.Popen([sys.executable, "-m", "grader.execution", arguments], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.pid = self.popen.pid
        else:
            context = _forkserver()
            self.conn, child_end = context.Pipe(duplex=False)
            self.process = context.Process(target=_grade_in_child, args=(child_end, arguments, env),
                                           name="grader-task", daemon=False)
            self.process.start()
            child_end.close()
            self.pid = self.process.pid

    def result(self, timeout: float) -> list | None:
        """[success, error], or None if the process died without one; TimeoutError after `timeout` s."""
        if self.popen is not None:
            try:
                out, _ = self.popen.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise TimeoutError from None
            try:
                return json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                return None
        try:
            answered = self.conn.poll(timeout)  # True on an answer, or when the process is gone
        except (EOFError, OSError):
            return None
        if not answered:
            raise TimeoutError
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return None

    def kill(self) -> None:
        _kill_tree(self.pid)
        self.close()

    def close(self) -> None:
        """Wait for the process to end (it has answered, or was killed); kill what lingers."""
        if self.popen is not None:
            try:
                self.popen.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                _kill_tree(self.pid)
                self.popen.communicate()
        else:
            self.process.join(30)
            if self.process.is_alive():
                _kill_tree(self.pid)
                self.process.join()
            self.conn.close()

    @property
    def exitcode(self) -> int | None:
        return self.popen.returncode if self.popen is not None else self.process.exitcode


def grade_one(task: Task) -> Outcome:
    """Grade one submission into its own gradebook copy in a fresh process (module docstring)."""
    start = time.monotonic()
    shutil.copyfile(task.base_db, task.db_path)
    arguments = json.dumps({"student": task.student, "assignment": task.assignment, "root": task.root,
                            "db_path": task.db_path, "cell_timeout": task.cell_timeout, "sandbox": task.sandbox,
                            "warm_parent": task.warm_parent})
    # The process's temporary files (a sandbox's host folder, say) go to a folder removed below, even
    # when the process is killed; 0o711, because a sandbox started by root enters it as nobody.
    scratch = tempfile.mkdtemp(prefix="grader-task-")
    os.chmod(scratch, 0o711)
    process = _GradingProcess(arguments, {**os.environ, **task.env, "TMPDIR": scratch})
    with _lock:
        _running.add(process.pid)
    try:
        outcome = process.result(task.notebook_timeout)
        process.close()  # it has answered; wait until it (and its kernel) are gone
    except TimeoutError:
        process.kill()
        return Outcome(False, f"grading took longer than the notebook time limit of {task.notebook_timeout:g} s "
                              "(--notebook-timeout); stopped", time.monotonic() - start, None)
    finally:
        with _lock:
            _running.discard(process.pid)
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.monotonic() - start
    if outcome is None:
        return Outcome(False, f"the grading process died (exit code {process.exitcode})", seconds, None)
    success, error = outcome
    return Outcome(success, error, seconds, f"sqlite:///{task.db_path}" if success else None)


def _grade(arguments: str) -> list:
    """Run nbgrader's Autograde on one submission (in the grading process); [success, error]."""
    args = json.loads(arguments)
    checks.use_hidden_seed(Workspace(Path(args["root"])).hidden_seed())
    sandbox = Sandbox(**args["sandbox"]) if args["sandbox"] is not None else None
    config = nbgrader_config(Path(args["root"]), f"sqlite:///{args['db_path']}", cell_timeout=args["cell_timeout"],
                             sandbox=sandbox, warm_parent=args["warm_parent"])
    result = run_converter(Autograde, config, assignment_id=args["assignment"], student_id=args["student"])
    return [result.success, result.error]


def _die_with_parent() -> None:
    """Linux: this process is killed when its parent exits (the fork server, which exits with the
    grader or the Dask worker that started it), rather than grading on for no one."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent was gone before the request took effect
        os._exit(1)


def _grade_in_child(conn, arguments: str, env: dict[str, str]) -> None:
    """A grading process forked from the fork server: the caller's environment, no terminal output
    (as `python -m grader.execution` has, with its stderr discarded), the result through `conn`."""
    _die_with_parent()
    os.environ.clear()
    os.environ.update(env)
    tempfile.tempdir = None  # the fork server may have cached another temporary folder
    # ... and was started with the environment of its time: take PYTHONPATH as a fresh interpreter would
    # (hidden checks outside grader/, e.g. an instructor's own, are imported in this process).
    for entry in reversed([p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    threads = int(env.get("OMP_NUM_THREADS") or 0)
    if threads > 0:  # the fork server's OpenMP runtime read its own value at import: this task's share of the cores
        import torch

        torch.set_num_threads(threads)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    conn.send(_grade(arguments))
    conn.close()


def tasks_for(submissions: Iterable[tuple[str, str]], root: Path, gradebook: Path, tasks_dir: Path,
              limits: GradingLimits, env: dict[str, str], sandbox: Sandbox | None = None) -> list[Task]:
    """One Task per (student, assignment), its kernels in `sandbox` (None: unconfined); copies the
    gradebook once into `tasks_dir` as every task's starting point (call before any merge)."""
    if tasks_dir.exists():
        shutil.rmtree(tasks_dir)
    tasks_dir.mkdir(parents=True)
    base = tasks_dir / "gradebook-base.db"
    shutil.copyfile(gradebook, base)
    env = tasks_env(env)
    return [Task(student, assignment, str(root), str(base), str(tasks_dir / f"gradebook-{index}.db"),
                 limits.cell_timeout, limits.notebook_timeout, env, asdict(sandbox) if sandbox else None)
            for index, (student, assignment) in enumerate(submissions)]


def tasks_env(env: dict[str, str]) -> dict[str, str]:
    """The environment a task adds to its grading process's: `env`, and this process's module path
    (a remote Dask worker gets the caller's module path too)."""
    env = dict(env)
    if os.environ.get("PYTHONPATH"):
        env.setdefault("PYTHONPATH", os.environ["PYTHONPATH"])
    return env


def run_locally(tasks: list[Task], workers: int, finish: Callable[[Task, Outcome], None],
                warm: WarmPool | None = None) -> None:
    """Run `grade_one` on `workers` tasks at a time; call `finish` in this thread as each ends.
    With `warm` (a warm parent per worker), each task's kernel is forked from a free warm parent."""

    def grade(task: Task) -> Outcome:
        if warm is None:
            return grade_one(task)
        with warm.parent() as parent:
            return grade_one(replace(task, warm_parent=parent.socket))

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grader-task")
    try:
        futures = {pool.submit(grade, task): task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                outcome = future.result()
            except Exception as crash:  # e.g. the gradebook copy could not be written
                outcome = Outcome(False, f"the grading task failed: {crash!r}", 0.0, None)
            finish(task, outcome)
            remove_copy(task)
    except BaseException:  # interrupted (Ctrl-C) or `finish` failed: stop every grading process
        pool.shutdown(wait=False, cancel_futures=True)
        with _lock:
            for pid in list(_running):
                _kill_tree(pid)
        raise
    finally:
        pool.shutdown(wait=True)


def remove_copy(task: Task) -> None:
    Path(task.db_path).unlink(missing_ok=True)


def remove_tasks_dir(tasks_dir: Path) -> None:
    shutil.rmtree(tasks_dir, ignore_errors=True)


if __name__ == "__main__":  # the grading process in a daemonic process (see _GradingProcess)
    print("\n" + json.dumps(_grade(sys.argv[1])), flush=True)
