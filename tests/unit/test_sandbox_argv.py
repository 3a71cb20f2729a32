"""Issue 14, in seconds: the bubblewrap command line a grading kernel starts with, and what the
command line does on a machine without bubblewrap. The hostile batch is tests/e2e/test_sandbox.py."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from grader.cli import main
from grader.sandbox import INPUT, SCRATCH, SOCKETS, Sandbox, SandboxedKernelManager, bwrap_argv
from grader.settings import REPO_ROOT, SOLUTIONS_DIR, GraderError

TOY_SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "solutions"
TOY = "00_toy"
NB = f"{TOY}.ipynb"
SECRET = "instructor-secret-in-the-environment"


def test_bwrap_argv_binds_only_what_the_kernel_needs(tmp_path):
    """Fast: the command line itself. No solutions/, grader/, workspace or repository root is bound;
    the kernel gets its own user, PID, network and IPC namespaces and a size-capped tmpfs."""
    workspace, host_dir = tmp_path / "ws", tmp_path / "host"
    argv = bwrap_argv([sys.executable, "-m", "ipykernel_launcher", "-f", "/tmp/.kernel/connection.json"],
                      host_dir=host_dir, limits=Sandbox().limits(4 * 2**30), scratch_bytes=2**20,
                      env={"NBGRADER_EXECUTION": "autograde", "GRADER_TEST_SECRET": SECRET},
                      forbidden=[workspace])
    staged = {}
    if argv[0] == "unshare":  # as root: bwrap runs as nobody and binds folders staged by the shell script
        start = argv.index("grader-sandbox-stage") + 2
        stage_end = argv.index("--", start)
        staged = {str(host_dir / "stage" / str(i)): src for i, src in enumerate(argv[start:stage_end])}
        argv = argv[stage_end + 1:]
    cut = argv.index("--")
    options = argv[:cut]
    binds = [(staged.get(options[i + 1], options[i + 1]), options[i + 2]) for i, arg in enumerate(options)
             if arg in ("--bind", "--ro-bind", "--ro-bind-try", "--bind-try", "--dev-bind")]
    assert "--bind" not in options and "--bind-try" not in options  # nothing of the host is writable
    for source in [Path(source).resolve() for source, _ in binds]:
        for secret in (SOLUTIONS_DIR, REPO_ROOT / "grader", workspace):  # not it, not in it, not holding it
            secret = secret.resolve()
            assert source != secret and secret not in source.parents and source not in secret.parents, source
        assert source != Path.home().resolve(), source
    assert (str(host_dir / "input"), INPUT) in binds
    for flag in ("--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent",
                 "--new-session", "--clearenv"):
        assert flag in options
    assert options[options.index("--uid") + 1] == "65534"
    scratch = options.index(SCRATCH)  # the only writable folder: a tmpfs of the given size
    assert options[scratch - 3:scratch + 1] == ["--size", str(2**20), "--tmpfs", SCRATCH]
    chdir = options.index("--chdir")
    assert options[chdir - 4:chdir] == ["--remount-ro", "/", "--remount-ro", "/dev"]
    assert SECRET not in " ".join(argv) and "NBGRADER_EXECUTION" in options
    spec = argv[cut:]
    assert "RLIMIT_NPROC" in " ".join(spec) and "RLIMIT_AS" in " ".join(spec) and "RLIMIT_FSIZE" in " ".join(spec)


def test_kernel_talks_over_ipc_only(tmp_path):
    """The kernel manager uses ZMQ ipc sockets (no TCP port), reached through the sandbox's root."""
    km = SandboxedKernelManager(kernel_name="transformer-course")
    assert km.transport == "ipc" and km.ip == SOCKETS


def test_exposing_a_forbidden_folder_is_refused(tmp_path):
    with pytest.raises(GraderError, match="refusing to show"):
        bwrap_argv([sys.executable], host_dir=SOLUTIONS_DIR, limits={}, scratch_bytes=2**20, env={})
    with pytest.raises(GraderError, match="refusing to show"):
        bwrap_argv([sys.executable], host_dir=tmp_path / "ws" / "x", limits={}, scratch_bytes=2**20, env={},
                   forbidden=[tmp_path / "ws"])


def test_missing_bubblewrap_stops_before_grading(tmp_path, monkeypatch, capsys):
    """Without bwrap on PATH, autograde names what is missing and how to install it, and grades
    nothing; --no-sandbox goes ahead after printing the risk once."""
    subs = tmp_path / "subs"
    (subs / "alice" / TOY).mkdir(parents=True)
    shutil.copyfile(TOY_SOURCE / TOY / NB, subs / "alice" / TOY / NB)
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder without bwrap
    assert main(["autograde", str(subs), "--workspace", str(tmp_path / "ws"), "--source", str(TOY_SOURCE)]) == 1
    err = capsys.readouterr().err
    assert "bubblewrap (`bwrap`) is not installed" in err and "sudo apt install bubblewrap" in err
    assert "--no-sandbox" in err
    assert not (tmp_path / "ws").exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["autograde", str(empty), "--workspace", str(tmp_path / "ws2"), "--source", str(TOY_SOURCE),
                 "--no-sandbox"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: --no-sandbox") == 1 and "read solutions/" in err


def test_scratch_is_mounted_before_the_read_only_folders(tmp_path):
    """A repository under /tmp (a CI clone, say) must not be hidden by the kernel's /tmp tmpfs."""
    argv = bwrap_argv([sys.executable], host_dir=tmp_path, limits={}, scratch_bytes=2**20, env={})
    tmpfs = argv.index(SCRATCH, argv.index("--tmpfs"))
    binds = [i for i, arg in enumerate(argv) if arg == "--ro-bind"]
    assert argv[tmpfs - 1] == "--tmpfs" and tmpfs < min(binds)
