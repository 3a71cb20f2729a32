"""Forked grading kernels: a warm parent per grading worker forks one kernel per notebook.

A fresh grading kernel spends about half of a graded notebook starting Python, importing torch,
numpy, matplotlib and ipykernel, and tearing all that down again (issue 19). A **warm parent** pays
that once per grading worker: it runs in a bubblewrap sandbox built exactly like a kernel's
(grader/sandbox.py), imports those packages, runs no student code and no torch operation, and forks
a child for every notebook. The child takes new mount, PID, network, IPC and UTS namespaces, its own
tmpfs scratch, /dev/shm and /proc, a new session, the kernel's limits, drops every capability, and
becomes a real IPython kernel on the connection file that jupyter_client wrote; see
grader/sandboxed/warm_parent.py for the process tree. nbgrader's Execute (our TrustedExecute) uses it through
`ForkedKernelManager`, a `SandboxedKernelManager` whose launch asks the warm parent instead of
starting bwrap; everything after the launch (ipc sockets reached through /proc/<pid>/root,
interrupts as messages, shutdown) is the sandboxed kernel's.

What a forked kernel shares with a fresh sandboxed one: user 65534, no view of the grader, the
workspace or another kernel, no network, a fresh IPython directory with the grader's startup file,
its own random seeds (Python, NumPy and torch re-seeded after the fork), `sys.path` and `sys.argv`
as `python -m ipykernel_launcher` has them, and the end of every process it started when it ends
(the grader's connection closing ends it too, so a grading process killed at --notebook-timeout
takes its kernel with it). What differs, and why it is acceptable:

- the warm parent's sandbox keeps CAP_SYS_ADMIN and CAP_SETPCAP inside its own user namespace
  (no capability on the host) to make each child's namespaces; the child drops both before it
  fills its scratch, and `--disable-userns` still forbids any further user namespace;
- children of one warm parent share its user namespace, so the process limit (RLIMIT_NPROC) counts
  a worker's kernels together; a worker runs one kernel at a time, and a fork bomb's processes
  die with its kernel, before the worker's next notebook;
- the `hash()` seed of str and bytes is the warm parent's (Python draws it once, at start-up);
- fork is only safe before CUDA is initialised and is unreliable on macOS: `unsupported_reason`
  falls back to fresh kernels on a machine with an NVIDIA GPU, off Linux, and without the sandbox
  (on Dask, each worker decides for its machine and keeps a warm parent per task slot:
  grader/dask_workers.py).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from traitlets import Unicode

from grader.sandbox import (KERNEL_DIR, SCRATCH, SOCKETS, Sandbox, SandboxedKernelManager, _read_child_pid, read_json,
                            bwrap_argv, folder_files, hand_over, inside_environment, make_host_dir)
from grader.sandboxed import FOLDER as SANDBOXED, PACKAGE_INSIDE
from grader.sandboxed.codec import recv_frame, send_frame
from grader.settings import KERNEL_NAME, GraderError
from grader.workspace import KERNEL_STARTUP, MEMORY_ENV

# The warm parent is grader/sandboxed/warm_parent.py, run inside its sandbox from a copy of that folder
# (the sandbox cannot see grader/) as the package PACKAGE_INSIDE.
WARM_PARENT_MODULE = PACKAGE_INSIDE + ".warm_parent"
PARENT_SOCKET = SCRATCH + "/.warm/parent.sock"  # inside the warm parent's sandbox
# The capabilities the warm parent keeps in its own user namespace (see the module docstring).
PARENT_CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_SETPCAP")
START_TIMEOUT = 300  # seconds for a warm parent to import torch & co on a loaded machine
KERNEL_MODES = ("forked", "fresh")


def unsupported_reason(sandbox: Sandbox | None, dask: str | None) -> str | None:
    """Why this run cannot use forked kernels (None: it can). With `dask`, only what the caller
    decides (the sandbox): each Dask worker asks again about its own machine (grader/dask_workers.py)."""
    if sandbox is None:
        return "forked kernels are built on the sandbox's namespaces, and --no-sandbox turns it off"
    if dask:
        return None
    if not sys.platform.startswith("linux"):
        return f"forked kernels need Linux namespaces, and fork is unsafe on {sys.platform}"
    if Path("/proc/driver/nvidia").exists():
        return ("this machine has an NVIDIA GPU, and a process forked after CUDA is initialised cannot use "
                "it safely")
    return None


def threads_per_kernel(workers: int) -> int:
    """OpenMP/torch threads per kernel: the cores divided among the workers (at least one), so that
    two workers' kernels do not fight over two cores (which slowed one notebook from 3 s to 24 s)."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def split_launcher(kernel_argv: list[str]) -> tuple[list[str], list[str]]:
    """(interpreter with its options, ipykernel's arguments) of `python [options] -m ipykernel_launcher ...`."""
    for index in range(len(kernel_argv) - 1):
        if kernel_argv[index:index + 2] == ["-m", "ipykernel_launcher"]:
            return kernel_argv[:index], kernel_argv[index + 2:]
    raise RuntimeError(f"a forked kernel can only be an ipykernel (`python -m ipykernel_launcher`); this kernel "
                       f"starts with {kernel_argv}")


def kernel_interpreter() -> list[str]:
    """The course kernel's interpreter and options (its kernel.json), which the warm parent runs with."""
    from jupyter_client.kernelspec import KernelSpecManager

    return split_launcher(KernelSpecManager().get_kernel_spec(KERNEL_NAME).argv)[0]


class WarmParent:
    """One warm parent (grader/sandboxed/warm_parent.py) in its own bubblewrap sandbox.

    Start it from the thread that outlives it (bwrap's --die-with-parent follows the thread that
    started it); `socket` is where grading processes ask it for a kernel."""

    def __init__(self, sandbox: Sandbox, env: dict[str, str]):
        self.sandbox, self.env = sandbox, env
        self.process: subprocess.Popen | None = None
        self.socket = ""
        self.threads: int | None = None  # the warm parent's threads when it was ready (1: no pool started)
        self._host_dir: Path | None = None
        self._pending: tuple | None = None  # launched, not yet ready: (info pipe, status pipe, bwrap's log)

    def start(self) -> None:
        """Start the sandbox and wait until the warm parent listens; GraderError saying why if it cannot."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        host_dir = self._host_dir = make_host_dir("", "")
        (host_dir / "input" / "work").mkdir()
        shutil.copytree(SANDBOXED, host_dir / "input" / "work" / PACKAGE_INSIDE, ignore=shutil.ignore_patterns("__pycache__"))
        hand_over(host_dir)
        status_read, status_write = os.pipe()
        info_read, info_write = os.pipe()
        interpreter = kernel_interpreter()
        spec = {"socket": PARENT_SOCKET, "status_fd": status_write, "interpreter": interpreter}
        limits = self.sandbox.limits(0)  # a kernel's, but the address space: each child sets its own
        argv = bwrap_argv([*interpreter, "-m", WARM_PARENT_MODULE, json.dumps(spec)], host_dir=host_dir,
                          limits=limits, scratch_bytes=self.sandbox.scratch_bytes, env=self.env,
                          info_fd=info_write, capabilities=PARENT_CAPABILITIES)
        log = open(host_dir.parent / (host_dir.name + ".log"), "w+b")
        try:
            self.process = subprocess.Popen(argv, cwd=str(host_dir), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                            stderr=log, pass_fds=(status_write, info_write),
                                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        finally:
            os.close(status_write)
            os.close(info_write)
        self._pending = (info_read, status_read, log)

    def wait_ready(self) -> None:
        info_read, status_read, log = self._pending
        self._pending = None
        try:
            pid = _read_child_pid(info_read)
            status = read_json(status_read, START_TIMEOUT) or {}
        finally:
            os.close(info_read)
            os.close(status_read)
        if pid is None or not status.get("ready"):
            log.seek(0)
            why = status.get("error") or log.read(2000).decode(errors="replace").strip() or "no message"
            log.close()
            self.stop()
            raise GraderError(f"the warm parent of forked kernels did not start ({why})")
        log.close()
        self.socket = f"/proc/{pid}/root{PARENT_SOCKET}"
        self.threads = status.get("threads")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Close its stdin (it exits, and its sandbox with every child), then make sure."""
        if self._pending is not None:  # launched, never waited for
            info_read, status_read, log = self._pending
            self._pending = None
            os.close(info_read)
            os.close(status_read)
            log.close()
        if self.process is not None:
            try:
                self.process.stdin.close()
                self.process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
            self.process = None
        if self._host_dir is not None:
            shutil.rmtree(self._host_dir, ignore_errors=True)
            Path(self._host_dir.parent / (self._host_dir.name + ".log")).unlink(missing_ok=True)
            self._host_dir = None


class WarmPool:
    """One warm parent per grading worker (local, or a Dask worker's task slot); `parent()` lends one to a grading task.

    Made in the thread that runs the batch (the warm parents die with it): the parents start
    importing at once, all together; `wait_ready()` before lending one; `close()` ends them all."""

    def __init__(self, count: int, sandbox: Sandbox, env: dict[str, str]):
        self.sandbox, self.env = sandbox, env
        self.parents = [WarmParent(sandbox, env) for _ in range(count)]
        self._free = queue.SimpleQueue()
        try:
            for parent in self.parents:
                parent.launch()
        except BaseException:
            self.close()
            raise

    def wait_ready(self) -> None:
        """Wait until every parent listens; GraderError saying why (and all closed) if one cannot."""
        try:
            for parent in self.parents:
                parent.wait_ready()
        except BaseException:
            self.close()
            raise
        for parent in self.parents:
            self._free.put(parent)

    @contextlib.contextmanager
    def parent(self) -> Iterator[WarmParent]:
        parent = self._free.get()
        try:
            if not parent.alive():  # it cannot be reached from a kernel; but the OOM killer, say, could end it
                parent.stop()
                parent.start()
            yield parent
        finally:
            self._free.put(parent)

    def close(self) -> None:
        for parent in self.parents:
            parent.stop()


class ForkedChild:
    """A forked kernel as jupyter_client's LocalProvisioner sees a Popen: `pid` (the host PID of
    the kernel's namespace, whose /proc/<pid>/root holds its sockets), `poll`, `wait`,
    `send_signal`, `kill`, `terminate`. It talks to the child's supervisor over the connection that
    asked for it. Any signal ends the kernel (interrupts travel as messages, see
    SandboxedKernelManager), and so does closing the connection."""

    stdin = stdout = stderr = None

    def __init__(self, parent_socket: str, request: dict):
        self.returncode: int | None = None
        self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.conn.connect(parent_socket)
        except OSError as error:
            self.conn.close()
            raise RuntimeError(f"cannot reach the warm parent of forked kernels at {parent_socket}: {error}") from None
        # The kernel reports with our PID namespace's view of its PID (SCM_CREDENTIALS).
        self.conn.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        send_frame(self.conn, request)
        answer, pid = recv_frame(self.conn)
        if answer is None or not answer.get("ready") or pid is None:
            self.conn.close()
            why = (answer or {}).get("error") or "the warm parent closed the connection"
            raise RuntimeError(f"the warm parent could not fork a kernel: {why}")
        self.pid = pid

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self.conn], [], [], 0)[0]:
            self._read_exit()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self.conn], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired("forked kernel", timeout)
            self._read_exit()
        return self.returncode

    def _read_exit(self) -> None:
        try:
            message, _ = recv_frame(self.conn)
        except OSError:
            message = None
        self.returncode = int((message or {}).get("exited", -signal.SIGKILL))
        self.conn.close()

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            try:
                send_frame(self.conn, {"signal": int(signum)})
            except OSError:
                pass  # the supervisor is gone, and the kernel with it

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkedKernelManager(SandboxedKernelManager):
    """A SandboxedKernelManager whose kernel is forked by a warm parent instead of started by bwrap."""

    warm_parent = Unicode(help="the warm parent's socket (WarmParent.socket)").tag(config=True)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        env = dict(kw.pop("env", None) or os.environ)
        cwd = kw.pop("cwd", None)
        sandbox = self.limits
        connection = KERNEL_DIR + "/connection.json"
        host_connection = os.path.realpath(self.connection_file)
        interpreter, arguments = split_launcher(kernel_cmd)
        source = Path(cwd) if cwd else None
        request = {
            "interpreter": interpreter, "connection": Path(self.connection_file).read_text(),
            "connection_path": connection, "arguments": [connection if arg == host_connection else arg for arg in arguments],
            "env": inside_environment(env), "limits": sandbox.limits(int(env.get(MEMORY_ENV) or 0)),
            "scratch_bytes": sandbox.scratch_bytes, "startup": KERNEL_STARTUP.read_text(),
            "work": {str(path.relative_to(source)): base64.b64encode(path.read_bytes()).decode()
                     for path in folder_files(source, sandbox.scratch_bytes // 2)},
        }
        child = ForkedChild(self.warm_parent, request)
        provisioner = self.provisioner
        provisioner.process, provisioner.pid, provisioner.pgid = child, child.pid, None
        self._reconcile_connection_info(provisioner.connection_info)
        # From here on the grader reaches the kernel's sockets through the child's own root.
        self.ip = f"/proc/{child.pid}/root{SOCKETS}"

