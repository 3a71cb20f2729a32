"""Grading on a Dask cluster (`--dask ADDRESS`) with warm Dask workers, as a local run grades.

`DaskRun` registers `WarmWorker`, a Dask `WorkerPlugin`, for the length of one `autograde` run.
On every worker process (those there now and those that join later) its setup starts:

- the grading fork server (grader/execution.py `start_forkserver`, nbgrader & co imported once),
  from which every grading process of this worker is forked;
- with forked kernels, a warm parent per task slot of the worker (`--nthreads`), each in its own
  bubblewrap sandbox (grader/forked.py `WarmPool`); a task borrows a free one for its kernel.

Both are shared by every task the worker runs and end with the run (the plugin is removed at its
end; the fork server when no other run is on the worker, so that the next run imports the grader's
checks as they are then) or with the worker. A worker that cannot fork kernels (no bubblewrap, an NVIDIA GPU, not
Linux: `forked.unsupported_reason`, or a warm parent that did not start) grades with fresh kernels,
and `DaskRun.kernels()` says which and why. Each kernel uses one thread (one task per core, as the
README starts the workers). A worker that dies loses only the tasks it was running: Dask gives
them to another worker, or, after `distributed.scheduler.allowed-failures`, they are listed as
failed with the reason.

A worker of `dask worker` (and of a process-based `LocalCluster`) is a daemonic process, which
multiprocessing forbids to start children: the plugin lifts that flag in the worker process, as
its grading processes are ended with their task (at `--notebook-timeout`) and its fork server and
warm parents end with the worker.

For the length of the run the plugin also quiets the worker's own sampling (`QUIET`), which costs
CPU the grading processes and kernels share on the same cores: Dask's statistical profiler
samples the stack of the task's thread 100 times a second (a grading task only waits on its
grading process's pipe) and its event-loop health check wakes the loop 50 times a second.
Measured on 2 cores while a task waits: 2.2 % of a core per worker process, 0.2 % quieted; the
scheduler's and nannies' ~3 % are not the worker's to change. Both are restored when the last
run on the worker ends.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from distributed import Client, WorkerPlugin
from distributed import as_completed as dask_completed

from grader import forked
from grader.execution import Outcome, Task, grade_one, remove_copy, start_forkserver, stop_forkserver
from grader.sandbox import Sandbox
from grader.settings import GraderError


@dataclass
class _WorkerKernels:
    pool: forked.WarmPool | None = None  # None: fresh kernels
    reason: str | None = None  # why fresh kernels, when forked ones were asked for


# What the plugins of this worker process have set up, by plugin name (one per run).
_WORKER_KERNELS: dict[str, _WorkerKernels] = {}

# The worker's periodic callbacks quieted while a run is on (module docstring): None stops one, a
# number of milliseconds slows it (the health check still sees a loop blocked for its 3 s limit).
QUIET: dict[str, int | None] = {"profile": None, "profile-cycle": None, "tick": 1000}
# Each quieted callback's state before the first run on this worker began: (running, milliseconds).
_QUIETED: dict[str, tuple[bool, float]] = {}


def _quiet(worker) -> None:
    if _QUIETED:  # another run on this worker already did
        return
    for name, milliseconds in QUIET.items():
        callback = worker.periodic_callbacks.get(name)
        if callback is None:  # not started on this worker (its profiler can be configured off)
            continue
        _QUIETED[name] = (callback.is_running(), callback.callback_time)
        if milliseconds is None:
            callback.stop()
        else:
            callback.callback_time = milliseconds


def _restore(worker) -> None:
    for name, (running, milliseconds) in _QUIETED.items():
        callback = worker.periodic_callbacks.get(name)
        if callback is None:
            continue
        callback.callback_time = milliseconds
        if running and not callback.is_running():
            callback.start()
    _QUIETED.clear()


class WarmWorker(WorkerPlugin):
    """On each Dask worker: the grading fork server, and a warm parent per task slot (module docstring)."""

    def __init__(self, name: str, sandbox: Sandbox | None, env: dict[str, str], forked_kernels: bool):
        self.name = name
        self.sandbox = asdict(sandbox) if sandbox is not None else None
        self.env = env  # the kernels' environment (grader/workspace.py kernel_environment), over the worker's own
        self.forked_kernels = forked_kernels

    async def setup(self, worker) -> None:
        process = multiprocessing.current_process()
        if process.daemon:  # see the module docstring
            process.daemon = False
        start_forkserver()
        _quiet(worker)
        kernels = _WORKER_KERNELS[self.name] = _WorkerKernels()
        if not self.forked_kernels:
            return
        sandbox = Sandbox(**self.sandbox) if self.sandbox is not None else None
        kernels.reason = forked.unsupported_reason(sandbox, None)  # this worker's machine: GPU, platform
        if kernels.reason:
            return
        try:
            # Started here, in the worker's event loop thread, which outlives every task (bwrap's
            # --die-with-parent follows the thread that started it); waited for off that thread.
            pool = forked.WarmPool(max(1, worker.state.nthreads), sandbox, {**os.environ, **self.env})
            await asyncio.get_running_loop().run_in_executor(None, pool.wait_ready)
        except Exception as error:  # GraderError says why; anything else, what went wrong
            kernels.reason = str(error) if isinstance(error, GraderError) else f"the warm parents did not start: {error!r}"
            return
        kernels.pool = pool

    def teardown(self, worker) -> None:
        kernels = _WORKER_KERNELS.pop(self.name, None)
        if kernels is not None and kernels.pool is not None:
            kernels.pool.close()
        if not _WORKER_KERNELS:  # the last run on this worker
            _restore(worker)
            stop_forkserver()


def grade_on_worker(task: Task, plugin: str) -> Outcome:
    """What a Dask task runs: `grade_one`, its kernel forked from a free warm parent of this worker
    when the plugin `plugin` keeps them here, else a fresh one."""
    kernels = _WORKER_KERNELS.get(plugin)
    if kernels is None or kernels.pool is None:
        return grade_one(task)
    with kernels.pool.parent() as parent:
        return grade_one(replace(task, warm_parent=parent.socket))


def _kernels_here(plugin: str) -> str | None:
    """On a worker: None if it forks kernels for the run `plugin`, else why not."""
    kernels = _WORKER_KERNELS.get(plugin)
    if kernels is None:
        return "the worker did not set up the run"
    return kernels.reason if kernels.pool is None else None


class DaskRun:
    """One `autograde` run on the Dask scheduler at `address`: connects and registers `WarmWorker`
    (the workers start their fork server and warm parents at once); `close()` removes it."""

    def __init__(self, address: str, sandbox: Sandbox | None, env: dict[str, str], forked_kernels: bool):
        try:
            self.client = Client(address, timeout="20s")
        except OSError as error:
            raise GraderError(f"cannot reach the Dask scheduler at {address}: {error}") from None
        self.forked_kernels = forked_kernels
        self.plugin = f"grader-warm-{uuid.uuid4().hex[:12]}"
        # Registering waits until every worker has set up (their warm parents import torch & co): in
        # a thread, so that the caller fills the gradebook meanwhile; `ready()` waits for it.
        plugin = WarmWorker(self.plugin, sandbox, env, forked_kernels)
        self._registered: list[BaseException | None] = []
        self._registering = threading.Thread(target=self._register, args=(plugin,), name="grader-dask-setup",
                                             daemon=True)
        self._registering.start()

    def _register(self, plugin: WarmWorker) -> None:
        try:
            self.client.register_plugin(plugin, name=self.plugin)
            self._registered.append(None)
        except BaseException as error:
            self._registered.append(error)

    def ready(self) -> None:
        """Wait until every worker has set up for this run; GraderError if the cluster would not."""
        self._registering.join()
        if self._registered[0] is not None:
            raise GraderError(f"the Dask workers could not set up grading: {self._registered[0]!r}")

    def close(self) -> None:
        self._registering.join()
        try:
            self.client.unregister_worker_plugin(self.plugin)
        except Exception:  # the cluster is gone: its workers took their warm parents with them
            pass
        finally:
            self.client.close()

    def kernels(self) -> dict[str, str | None]:
        """Each worker's address: None where kernels are forked, else why they are fresh there."""
        self.ready()
        if not self.forked_kernels:
            return {}
        return self.client.run(_kernels_here, self.plugin)

    def run(self, tasks: list[Task], finish: Callable[[Task, Outcome], None]) -> None:
        """Send each task to the cluster; call `finish` in this thread as results come."""
        self.ready()
        futures = {self.client.submit(grade_on_worker, task, self.plugin, pure=False,
                                      key=f"grade-{index}-{task.student}/{task.assignment}"): task
                   for index, task in enumerate(tasks)}
        for future in dask_completed(list(futures)):
            task = futures[future]
            try:
                outcome = future.result()
            except Exception as crash:  # the task itself failed (worker lost, ...)
                outcome = Outcome(False, f"the Dask task failed: {crash!r}", 0.0, None)
            finish(task, outcome)
            remove_copy(task)
