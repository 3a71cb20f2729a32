"""Issue 19, in seconds: when forked kernels are used, what the warm parent's sandbox keeps, and the
framing the grader and the warm parent talk in. The kernels themselves: tests/e2e/test_forked_kernels.py."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import sys

import pytest

from grader.cli import main
from grader.forked import split_launcher, threads_per_kernel, unsupported_reason
from grader.sandbox import Sandbox, bwrap_argv
from grader.sandboxed.codec import recv_frame, send_frame
from grader.workspace import kernel_environment


def test_forked_kernels_need_the_sandbox_and_on_dask_each_worker_decides():
    assert "--no-sandbox" in unsupported_reason(None, None)
    assert "--no-sandbox" in unsupported_reason(None, "tcp://scheduler:8786")
    assert unsupported_reason(Sandbox(), "tcp://scheduler:8786") is None  # grader/dask_workers.py asks each worker


def test_asking_for_forked_kernels_where_they_cannot_run_is_an_error_that_says_why(tmp_path):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["autograde", str(tmp_path), "--workspace", str(tmp_path / "ws"), "--kernel", "forked", "--no-sandbox"])
    assert rc == 1
    assert err.getvalue().strip() == ("error: --kernel forked: forked kernels are built on the sandbox's namespaces, "
                                      "and --no-sandbox turns it off; use --kernel fresh")


def test_kernels_share_the_cores_among_the_workers():
    cores = os.cpu_count() or 1
    assert threads_per_kernel(1) == cores and threads_per_kernel(cores) == 1 and threads_per_kernel(4 * cores) == 1
    env = kernel_environment(os.getcwd(), 0, threads=2)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert "OMP_NUM_THREADS" not in kernel_environment(os.getcwd(), 0)


def test_only_an_ipykernel_can_be_forked():
    assert split_launcher(["/py", "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "c.json"]) == (
        ["/py", "-Xfrozen_modules=off"], ["-f", "c.json"])
    with pytest.raises(RuntimeError, match="can only be an ipykernel"):
        split_launcher(["/usr/bin/R", "--slave", "-e", "IRkernel::main()"])


def test_only_the_warm_parent_keeps_capabilities(tmp_path):
    """Inside its own user namespace, and only the two it needs to give children their namespaces."""
    common = dict(host_dir=tmp_path, limits={}, scratch_bytes=2**20, env={})
    kernel = bwrap_argv([sys.executable, "-c", "pass"], **common)
    parent = bwrap_argv([sys.executable, "-c", "pass"], **common, capabilities=("CAP_SYS_ADMIN", "CAP_SETPCAP"))
    assert "--cap-add" not in kernel and "--cap-drop" in kernel
    options = parent[:parent.index("--", parent.index("--cap-drop"))]
    assert [options[i + 1] for i, arg in enumerate(options) if arg == "--cap-add"] == ["CAP_SYS_ADMIN", "CAP_SETPCAP"]
    assert options.index("--cap-drop") < options.index("--cap-add")  # bwrap applies them in order
    for flag in ("--disable-userns", "--unshare-pid", "--unshare-net", "--unshare-user"):
        assert flag in options


def test_frames_carry_the_senders_pid():
    """The grader learns a forked kernel's PID from the credentials of its first frame."""
    grader, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with grader, child:
        grader.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        send_frame(child, {"ready": True, "text": "é" * 1000})
        assert recv_frame(grader) == ({"ready": True, "text": "é" * 1000}, os.getpid())
        child.shutdown(socket.SHUT_WR)
        assert recv_frame(grader) == (None, None)


def test_a_grading_process_dies_with_its_parent():
    """A grading process forked from the fork server is killed when the fork server exits (as when a
    Dask worker is killed), instead of grading on for no one."""
    import signal
    import time

    from grader import execution

    read, write = os.pipe()
    middle = os.fork()
    if middle == 0:  # the "fork server": starts a grading process, then exits
        child = os.fork()
        if child == 0:
            execution._die_with_parent()
            time.sleep(30)
            os._exit(0)
        os.write(write, f"{child}\n".encode())
        os._exit(0)
    os.waitpid(middle, 0)
    child = int(os.read(read, 64).decode())
    for _ in range(100):
        try:
            with open(f"/proc/{child}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):  # dead, not yet reaped by init
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the grading process outlived the process that started it")
