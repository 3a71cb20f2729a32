"""The warm parent of forked grading kernels. It runs INSIDE a grading sandbox, never in the grader.

grader/forked.py starts one per grading worker, as the program of a bubblewrap sandbox built like a
kernel's (grader/sandbox.py: own user, PID, network and IPC namespaces, read-only environment,
tmpfs scratch, limits) that keeps one capability, CAP_SYS_ADMIN inside its own user namespace, so
that it can give every child namespaces of its own. It imports what every notebook imports
(torch, numpy, matplotlib with `agg`, ipykernel), runs no student code and no torch operation, and
then, for each connection on its socket, forks:

    warm parent (this program, sandbox PID 2)   accepts, forks, never reads a request
    └─ supervisor    reads the request; new mount, PID, network, IPC and UTS namespaces; reports
       │             the exit; kills everything below when the grader sends a signal or its
       │             connection closes (the grader died or gave up)
       └─ init       PID 1 of the new PID namespace: fresh tmpfs on /tmp and /dev/shm, its own
          │          /proc, a new session, every capability dropped, the kernel's limits; fills the
          │          scratch (notebook folder, IPython dir with the startup file, connection
          │          file); reaps orphans; its exit ends every process of the namespace
          └─ kernel  re-seeds the random generators, sets the thread count, becomes an IPython
                     kernel (ipykernel's IPKernelApp) on the connection file jupyter_client wrote

So a child sees only its own scratch and processes, like a fresh sandboxed kernel, and nothing it
writes or starts outlives it. What a child changes in memory (`sys.modules`, `torch.allclose`)
is its copy-on-write copy; the parent never runs anything after the fork.

It runs as `python -m _transformer_course_sandboxed.warm_parent`: grader/forked.py copies this
folder (grader/sandboxed/) into the sandbox under that name (the sandbox cannot see grader/), so the
framing it shares with the grader (`send_frame`, `recv_frame`) is codec.py's, imported beside it.
The grader itself never imports this module; it imports only the standard library at the top.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import sys

from .codec import recv_frame, send_frame

SCRATCH, SHM, WORK, HOME = "/tmp", "/dev/shm", "/tmp/work", "/tmp/home"
SHM_BYTES = 16 * 2**20  # as the sandbox's own /dev/shm (grader/sandbox.py)

_CLONE_NEWNS, _CLONE_NEWUTS, _CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
_CLONE_NEWPID, _CLONE_NEWNET = 0x20000000, 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x2, 0x4, 0x8, 0x1000, 0x4000, 0x40000
_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 24, 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


# --- the warm parent ------------------------------------------------------------------------------

def main(spec: dict) -> None:
    global _INTERPRETER
    _INTERPRETER = spec["interpreter"]
    status = os.fdopen(spec["status_fd"], "w")
    # python -m put the working folder (this package's parent) first on sys.path; a fresh kernel has no such entry.
    del sys.path[0]
    try:
        _warm_up()
        os.makedirs(os.path.dirname(spec["socket"]), exist_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(spec["socket"])
        listener.listen(8)
    except BaseException as error:
        status.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")
        status.close()
        os._exit(1)
    status.write(json.dumps({"ready": True, "threads": len(os.listdir("/proc/self/task"))}) + "\n")
    status.close()
    # Children are reaped by the OS kernel: no zombie piles up in a parent that only forks.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
            os._exit(0)  # the grader closed our stdin (or died): done. No interpreter teardown with torch loaded.
        if listener in ready:
            conn, _ = listener.accept()
            try:
                pid = os.fork()
            except OSError as error:  # e.g. the process limit: the grader reads this and gives up on the kernel
                _try_send(conn, {"error": f"the warm parent could not fork: {error}"})
                conn.close()
                continue
            if pid == 0:
                listener.close()
                _supervise(conn)  # never returns
            conn.close()  # the parent never reads a request: no kernel's key ever sits in its memory


def _warm_up() -> None:
    """Import what every notebook imports, and run no torch operation (torch's thread pools start at
    the first one and would not survive the fork) and make no ZMQ context (each kernel makes its own).
    NumPy's OpenBLAS starts OMP_NUM_THREADS - 1 threads at import (none with one thread per kernel,
    e.g. two workers on two cores); a kernel's own NumPy and torch work after the fork either way
    (tests/e2e/test_forked_kernels.py)."""
    import IPython  # noqa: F401
    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401
    import matplotlib
    import numpy  # noqa: F401
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401  (the first optimizer a notebook makes imports it: 0.7 s, ~800 modules)

    matplotlib.use("agg")
    import matplotlib.pyplot  # noqa: F401  (builds the font list once, for every child)


# --- the supervisor: in the parent's namespaces, outside the child's -------------------------------

def _supervise(conn: socket.socket) -> None:
    code = 1
    try:
        _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        request, _ = recv_frame(conn)
        if request is None:
            os._exit(0)
        if request["interpreter"] != _INTERPRETER:
            raise ValueError(f"the kernel runs {request['interpreter']}, the warm parent {_INTERPRETER}")
        _call("unshare", _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWUTS)
        init = os.fork()
        if init == 0:
            _init(conn, request)  # never returns
        exited = os.pidfd_open(init)
        while True:
            ready, _, _ = select.select([conn, exited], [], [])
            if exited in ready:
                _, status = os.waitpid(init, 0)
                code = os.waitstatus_to_exitcode(status)
                _try_send(conn, {"exited": code})
                break
            # A message from the grader is a signal (interrupts travel as kernel messages, so any signal
            # means "stop"), and the end of the stream means the grader is gone: either way the kernel
            # ends, with every process it started (init's end ends its namespace).
            recv_frame(conn)
            os.kill(init, signal.SIGKILL)
    except BaseException as error:
        _try_send(conn, {"error": f"the supervisor of a forked kernel failed: {type(error).__name__}: {error}"})
    finally:
        os._exit(0 if code == 0 else 1)


# --- init: PID 1 of the child's own namespaces ------------------------------------------------------

def _init(conn: socket.socket, request: dict) -> None:
    try:
        _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        _isolate(request["scratch_bytes"])
        _fill_scratch(request)
    except BaseException as error:
        _try_send(conn, {"error": f"could not prepare a forked kernel: {type(error).__name__}: {error}"})
        os._exit(1)
    send_frame(conn, {"ready": True})  # the grader takes our PID from this frame's credentials
    try:
        kernel = os.fork()
    except OSError:
        os._exit(1)
    if kernel == 0:
        _become_kernel(request)  # never returns
    _only_standard_fds()
    # As PID 1 of the namespace we handle no signal, so the kernel cannot signal us (as bwrap's own PID 1).
    while True:
        try:
            pid, status = os.wait()  # the kernel, and every orphan reparented to us
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
        if pid == kernel:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)  # ends every other process of the namespace


def _isolate(scratch_bytes: int) -> None:
    """Own scratch, /dev/shm and /proc in the new mount namespace; a new session; then no capability."""
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE, None)  # nothing we mount reaches the parent
    # The sandbox's read-only folders that live under /tmp (a repository cloned there: its venv and
    # lib/) would be hidden by the fresh scratch; keep a handle on each and bind it back on top.
    kept = [(path, os.open(path, os.O_PATH)) for path in _mounts_under(SCRATCH)]
    _mount("tmpfs", SCRATCH, "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={scratch_bytes},mode=1777")
    for path, fd in kept:
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC, None)  # a copy keeps its read-only flag
        os.close(fd)
        if not os.statvfs(path).f_flag & os.ST_RDONLY:
            raise RuntimeError(f"{path} is writable in the kernel's sandbox")
    _mount("tmpfs", SHM, "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={SHM_BYTES},mode=1777")
    _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)  # shows this namespace only
    os.setsid()
    libc = _libc()
    for capability in range(int(open("/proc/sys/kernel/cap_last_cap").read()) + 1):
        libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)  # needs CAP_SETPCAP, which the sandbox keeps too
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable = 0, twice (64 bits)
    _call("capset", header, data)
    _call("prctl", _PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if any(line.split()[1].strip("0") for line in open("/proc/self/status") if line.startswith(("CapEff", "CapPrm"))):
        raise RuntimeError("capabilities are left after dropping them")


def _mounts_under(top: str) -> list[str]:
    """The outermost mount points strictly below `top`, from /proc/self/mountinfo."""
    points = []
    for line in open("/proc/self/mountinfo"):
        point = line.split()[4].encode().decode("unicode_escape")  # octal escapes such as \040
        if point.startswith(top.rstrip("/") + "/"):
            points.append(point)
    return [p for p in sorted(set(points)) if not any(p.startswith(q + "/") for q in points)]


def _fill_scratch(request: dict) -> None:
    """What the sandbox's start-up script (_PREPARE in grader/sandbox.py) does for a fresh kernel."""
    import base64
    import resource

    for name, value in request["limits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    env = request["env"]
    startup = os.path.join(env["IPYTHONDIR"], "profile_default", "startup")
    os.makedirs(startup)
    with open(os.path.join(startup, "00-grader.py"), "w") as f:
        f.write(request["startup"])
    os.makedirs(env["MPLCONFIGDIR"])  # the folder the warm parent's matplotlib already points at
    kernel_dir = os.path.dirname(request["connection_path"])
    os.makedirs(kernel_dir)
    with open(request["connection_path"], "w") as f:
        f.write(request["connection"])
    os.makedirs(WORK)
    for relative, content in request["work"].items():
        path = os.path.normpath(os.path.join(WORK, relative))
        if not path.startswith(WORK + "/"):
            raise ValueError(f"not a path inside the notebook's folder: {relative!r}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(content))


# --- the kernel ------------------------------------------------------------------------------------

def _become_kernel(request: dict) -> None:
    try:
        _only_standard_fds()
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(WORK)
        # A new process would have drawn its own seeds: so do we (Python's `random` re-seeds itself
        # after a fork; the hash() seed stays the parent's).
        import random

        import numpy
        import torch

        random.seed()
        numpy.random.seed()
        torch.seed()
        threads = int(os.environ.get("OMP_NUM_THREADS") or 0)
        if threads > 0:  # the OpenMP runtime read the parent's value at import; say it again for this kernel
            torch.set_num_threads(threads)
        import ipykernel_launcher
        from ipykernel.kernelapp import IPKernelApp

        sys.argv = [ipykernel_launcher.__file__, *request["arguments"]]
        # IPKernelApp read JPY_PARENT_PID when the parent imported it; read it now, from this environment.
        app = IPKernelApp.instance(parent_handle=int(os.environ.get("JPY_PARENT_PID") or 0))
        app.initialize(request["arguments"])
        app.start()
    finally:
        os._exit(0)  # skip the interpreter teardown (seconds with torch loaded); nothing is left to flush


# --- helpers -----------------------------------------------------------------------------------------

def _only_standard_fds() -> None:
    """stdin, stdout and stderr on /dev/null (as a fresh sandboxed kernel has them), nothing else open."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))


def _try_send(conn: socket.socket, message: dict) -> None:
    try:
        send_frame(conn, message)
    except OSError:
        pass


_LIBC = None
_INTERPRETER: list[str] = []  # the warm parent's interpreter and options, as the kernel's kernel.json has them


def _libc():
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def _call(name: str, *args) -> None:
    if getattr(_libc(), name)(*args) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{name}: {os.strerror(errno)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    if _libc().mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                     data.encode() if data else None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target}: {os.strerror(errno)}")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
