"""How one grading kernel is confined: bubblewrap (`bwrap`) arguments and ipc sockets.

Every grading kernel runs inside a bubblewrap sandbox (Debian package `bubblewrap`; it works
unprivileged through user namespaces, and as root). Inside it, the kernel

- runs as user 65534 in its own user namespace (started by root, it is also user 65534 on the
  host, see _STAGE_AS_NOBODY), with its own PID, network, IPC and UTS
  namespaces, in a new session, and dies with the grader (`--die-with-parent`): it can see and
  signal only its own processes, and every process it starts dies with it (when PID 1 of a PID
  namespace ends, the kernel of the OS kills the rest);
- sees, read-only, only what a notebook needs: `/usr` (with the usual `/bin`, `/lib` links),
  the Python environment (`sys.prefix` and the base interpreter it links to), the course
  library `lib/`, and a few files of `/etc` the dynamic loader reads. Not the repository root,
  `solutions/`, `grader/`, the workspace, the gradebook, the instructor's home or other students;
- writes only to `/tmp`, a tmpfs capped at `scratch_bytes`: a copy of the notebook's folder
  (the kernel's working directory, `/tmp/work`), a fresh IPython directory holding the grader's
  startup file, and the kernel's sockets; and a 16 MB `/dev/shm`. Nothing of it outlives the kernel;
- has no network: it talks to the grader only over its Jupyter channels, as ZMQ `ipc` sockets
  in `/tmp/.kernel/` inside the sandbox. The grader reaches them through
  `/proc/<sandbox PID 1>/root/tmp/.kernel/`, so no folder of the host is writable from inside
  (a socket folder bound from the host would be a place to fill the disk);
- runs under limits set before Python starts (`resource.setrlimit`, soft = hard, so student
  code cannot raise them): address space (`--memory-limit`), number of processes and threads,
  size of any file it writes, CPU seconds.

The environment is emptied (`--clearenv`) and only a few variables are set again, so no
secret of the instructor's environment reaches student code.

`SandboxedKernelManager` is the jupyter_client kernel manager that starts kernels this way;
`Sandbox.configure` makes nbgrader's Execute preprocessor use it (grader/runner.py's
`nbgrader_config(..., sandbox=...)` calls it). `Sandbox.check` starts a
trivial sandbox once before grading, so a machine without bubblewrap or user namespaces stops
with a message naming what is missing.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from queue import Empty

from jupyter_client import AsyncKernelManager
from jupyter_client.asynchronous import AsyncKernelClient
from traitlets import Dict, List, Type, Unicode
from traitlets.config import Config

from grader.settings import REPO_ROOT, SOLUTIONS_DIR, GraderError
from grader.workspace import KERNEL_STARTUP, MEMORY_ENV

SANDBOX_UID = 65534  # "nobody": the kernel's user id inside its user namespace

# Paths inside the sandbox.
INPUT = "/run/grader"  # read-only: what the grader hands in (startup file, connection file, notebook folder)
SCRATCH = "/tmp"  # the only writable place: a size-capped tmpfs
WORK = "/tmp/work"  # the kernel's working directory: a copy of the notebook's folder
HOME = "/tmp/home"
IPYTHON_DIR = "/tmp/ipython"
KERNEL_DIR = "/tmp/.kernel"  # connection file and ipc sockets
SOCKETS = KERNEL_DIR + "/kernel"  # ZMQ ipc endpoints are SOCKETS-<port>

# Variables of the grader's environment a kernel gets (everything else is dropped).
FORWARDED_ENV = ("NBGRADER_EXECUTION", "MPLBACKEND", MEMORY_ENV, "PYTHONDONTWRITEBYTECODE", "TZ",
                 "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Files of /etc the dynamic loader and Python read; nothing else of /etc is visible.
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/fonts")

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `sudo apt install bubblewrap`, Fedora: "
                "`sudo dnf install bubblewrap`), or pass --no-sandbox to grade without it "
                "(student code then runs with your permissions; see the README's threat model)")

# Runs inside the sandbox, with the environment's Python in isolated mode, before the kernel:
# set the limits, fill the scratch folder, silence the raw stdout/stderr, then become the kernel.
_PREPARE = r"""
import json, os, resource, shutil, sys
spec = json.loads(sys.argv[1])
for name, value in spec["limits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
startup = os.path.join(spec["ipython_dir"], "profile_default", "startup")
os.makedirs(startup)
shutil.copy(spec["input"] + "/startup.py", startup + "/00-grader.py")
os.makedirs(spec["home"])
os.makedirs(spec["kernel_dir"])
shutil.copy(spec["input"] + "/connection.json", spec["kernel_dir"] + "/connection.json")
shutil.copytree(spec["input"] + "/work", spec["work"], symlinks=True)
os.chdir(spec["work"])
null = os.open(os.devnull, os.O_WRONLY)
os.dup2(null, 1)
os.dup2(null, 2)
os.execv(sys.argv[2], sys.argv[2:])
"""


# Run as root, the sandbox's user would be root on the host, and Linux exempts root from
# RLIMIT_NPROC: a fork bomb would go unchecked. So root starts bwrap as the host's "nobody" (65534),
# unprivileged, like any user. Folders nobody may not enter (a Python under /root, say) are first
# bind-mounted into a staging tmpfs in a private mount namespace, from where bwrap binds them.
_STAGE_AS_NOBODY = r"""
set -e
stage=$1; shift
mount -t tmpfs -o size=64k,mode=755 grader-stage "$stage"
i=0
while [ "$1" != "--" ]; do
  if [ -d "$1" ]; then mkdir "$stage/$i"; else touch "$stage/$i"; fi
  mount --rbind "$1" "$stage/$i"
  i=$((i + 1)); shift
done
shift
exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"
"""


def make_host_dir(connection: str, startup: str) -> Path:
    """A fresh folder on the host: input/ (bound read-only at INPUT: startup.py, connection.json,
    work/) and stage/ (root only, see _STAGE_AS_NOBODY); only its owner can enter it."""
    host_dir = Path(tempfile.mkdtemp(prefix="grader-sandbox-"))
    (host_dir / "stage").mkdir()
    (host_dir / "input").mkdir()
    (host_dir / "input" / "connection.json").write_text(connection)
    (host_dir / "input" / "startup.py").write_text(startup)
    return host_dir


def hand_over(host_dir: Path) -> None:
    """As root, give the host folder to the sandbox's host user (nobody), still private to it."""
    if os.geteuid() != 0:
        return
    for folder, dirs, files in os.walk(host_dir):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, SANDBOX_UID, SANDBOX_UID)


@dataclass(frozen=True)
class Sandbox:
    """Limits of one sandboxed grading kernel (the address space comes from --memory-limit)."""

    scratch_bytes: int = 512 * 2**20  # the tmpfs at /tmp: the notebook's copy, IPython dir, anything written
    file_bytes: int = 256 * 2**20  # largest file the kernel may write (RLIMIT_FSIZE)
    processes: int = 0  # processes + threads of the sandbox user (RLIMIT_NPROC); 0 = 4 x CPUs + 256
    cpu_seconds: int = 0  # CPU time per process (RLIMIT_CPU); 0 = none (autograde sets 2 x notebook timeout x CPUs)

    def configure(self, c: Config, *, forbidden: list[Path] = (), warm_parent: str | None = None) -> None:
        """Make nbgrader's Execute preprocessor start kernels in this sandbox: fresh ones, or forked
        by the warm parent listening at `warm_parent` (grader/forked.py)."""
        c.Execute.kernel_manager_class = "grader.sandbox.SandboxedKernelManager"
        c.SandboxedKernelManager.sandbox = asdict(self)
        c.SandboxedKernelManager.forbidden = [str(p) for p in forbidden]
        if warm_parent is not None:
            c.Execute.kernel_manager_class = "grader.forked.ForkedKernelManager"
            c.ForkedKernelManager.warm_parent = warm_parent

    def limits(self, memory_limit: int) -> dict[str, int]:
        """setrlimit values (soft = hard) for the kernel process, by `resource` constant name."""
        limits = {"RLIMIT_NPROC": self.processes or 4 * (os.cpu_count() or 1) + 256,
                  "RLIMIT_FSIZE": self.file_bytes, "RLIMIT_CORE": 0}
        if self.cpu_seconds:
            limits["RLIMIT_CPU"] = self.cpu_seconds
        if memory_limit:
            limits["RLIMIT_AS"] = memory_limit
        return limits

    def check(self) -> None:
        """Start a trivial sandbox once; raise GraderError naming what is missing if that fails."""
        if not sys.platform.startswith("linux"):
            raise GraderError(f"the grading sandbox needs Linux (bubblewrap); this is {sys.platform}. Grade in a "
                              "Linux machine, VM or container, or pass --no-sandbox (student code then runs with "
                              "your permissions; see the README's threat model)")
        if not shutil.which("bwrap"):
            raise GraderError("bubblewrap (`bwrap`) is not installed, so student code cannot be sandboxed: "
                              + INSTALL_HINT)
        host_dir = make_host_dir("", "")
        try:
            (host_dir / "input" / "work").mkdir()
            hand_over(host_dir)
            argv = bwrap_argv([sys.executable, "-I", "-c", "import os; os.getuid()"], host_dir=host_dir,
                              limits=self.limits(0), scratch_bytes=self.scratch_bytes, env={})
            # The check itself prints nothing (stdout goes to /dev/null inside); bwrap's own errors come on stderr.
            run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        finally:
            shutil.rmtree(host_dir, ignore_errors=True)
        if run.returncode != 0:
            problem = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
            raise GraderError(f"bubblewrap cannot start the grading sandbox ({problem}). It needs user namespaces: "
                              "on Debian/Ubuntu check `sysctl kernel.unprivileged_userns_clone` (must be 1) and, on "
                              "Ubuntu 23.10+, `kernel.apparmor_restrict_unprivileged_userns` (0, or an AppArmor "
                              "profile for bwrap); in a container, allow user namespaces. Or pass --no-sandbox "
                              "(student code then runs with your permissions; see the README's threat model)")


def _environment_dirs() -> list[Path]:
    """The Python environment: its prefix and the base interpreter's (a venv links to it)."""
    dirs = []
    for prefix in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix):
        path = Path(prefix).resolve()
        if path not in dirs:
            dirs.append(path)
    return dirs


def _library_dir() -> Path:
    """The folder that holds the `transformer_reference` package (lib/ in the repository)."""
    spec = importlib.util.find_spec("transformer_reference")
    if spec is None or spec.origin is None:
        raise GraderError("the course library `transformer_reference` is not installed in this environment")
    return Path(spec.origin).resolve().parent.parent


def _overlaps(path: Path, other: Path) -> bool:
    return path == other or other in path.parents or path in other.parents


def inside_environment(env: dict[str, str]) -> dict[str, str]:
    """The whole environment of a sandboxed kernel: a few fixed variables and FORWARDED_ENV from `env`."""
    return {
        "PWD": "/",  # as bwrap's --chdir / sets it (the kernel then runs in WORK, as a started program would)
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": HOME, "USER": "student", "LOGNAME": "student", "TMPDIR": SCRATCH, "LANG": "C.UTF-8",
        "IPYTHONDIR": IPYTHON_DIR, "JUPYTER_RUNTIME_DIR": HOME + "/runtime", "MPLCONFIGDIR": HOME + "/matplotlib",
        **{name: env[name] for name in FORWARDED_ENV if name in env},
    }


def bwrap_argv(kernel_argv: list[str], *, host_dir: Path, limits: dict[str, int], scratch_bytes: int, env: dict[str, str],
               forbidden: list[Path] = (),
               info_fd: int | None = None, capabilities: tuple[str, ...] = ()) -> list[str]:
    """The bwrap command line that runs `kernel_argv` confined (see the module docstring).

    `host_dir` (bound read-only at INPUT) holds startup.py, connection.json and work/, the copy of
    the notebook's folder. No bound folder may be, hold or lie in the repository root (other than
    its lib/ and environment), solutions/, grader/ or a `forbidden` path (the workspace).
    `capabilities` are kept inside the sandbox's own user namespace (only the warm parent of forked
    kernels keeps any, to give each child namespaces of its own; grader/sandboxed/warm_parent.py)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise GraderError("bubblewrap (`bwrap`) is not installed: " + INSTALL_HINT)
    read_only = [Path(p) for p in (*ETC_FILES, "/usr")] + _environment_dirs() + [_library_dir()]
    for path in read_only + [host_dir]:
        for secret in [SOLUTIONS_DIR, REPO_ROOT / "grader", *map(Path, forbidden)]:
            if _overlaps(path.resolve(), Path(secret).resolve()):
                raise GraderError(f"refusing to show {path} to student code: it overlaps {secret}")
        if path.resolve() == REPO_ROOT or path.resolve() in REPO_ROOT.parents:
            raise GraderError(f"refusing to show {path} to student code: it holds the whole repository")

    as_root = os.geteuid() == 0
    argv = [bwrap, "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "grading-sandbox", "--disable-userns", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", *[arg for name in capabilities for arg in ("--cap-add", name)], "--proc", "/proc", "--dev", "/dev", "--size", str(16 * 2**20), "--tmpfs", "/dev/shm"]
    staged: list[str] = []  # as root: host folders handed to bwrap through the staging folder

    def source(path: Path) -> str:
        if not as_root:
            return str(path)
        staged.append(str(path))
        return str(host_dir / "stage" / str(len(staged) - 1))

    # The scratch tmpfs first: read-only folders that live under /tmp on the host (a repository cloned
    # to /tmp/...) are then bound on top of it instead of being hidden by it.
    argv += ["--size", str(scratch_bytes), "--tmpfs", SCRATCH]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", source(Path(top)), top]
    for path in read_only:
        if path.exists():
            argv += ["--ro-bind", source(path), str(path)]
    argv += ["--ro-bind", str(host_dir / "input"), INPUT,
             # bwrap's own root and /dev (tmpfs, with the folders it made for the mounts) stay read-only
             "--remount-ro", "/", "--remount-ro", "/dev",
             "--chdir", "/", "--clearenv"]
    for name, value in inside_environment(env).items():
        argv += ["--setenv", name, value]
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    spec = {"limits": limits, "input": INPUT, "work": WORK,
            "home": HOME, "ipython_dir": IPYTHON_DIR, "kernel_dir": KERNEL_DIR}
    argv += ["--", kernel_argv[0], "-I", "-S", "-c", _PREPARE, json.dumps(spec), *kernel_argv]
    if as_root:
        return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", _STAGE_AS_NOBODY,
                "grader-sandbox-stage", str(host_dir / "stage"), *staged, "--", *argv]
    return argv


def folder_files(source: Path | None, budget: int) -> list[Path]:
    """The regular files under `source` (the notebook's folder) that a kernel gets a copy of, at most
    `budget` bytes in all (the scratch tmpfs could not hold more); symlinks are not followed."""
    if source is None or not source.is_dir():
        return []
    found = []
    for folder, dirs, files in os.walk(source):
        for name in files:
            path = Path(folder, name)
            if path.is_symlink() or not path.is_file():
                continue
            budget -= path.stat().st_size
            if budget < 0:
                raise GraderError(f"{source}: more than the sandbox's scratch space to copy in")
            found.append(path)
    return found


def copy_folder(source: Path | None, target: Path, budget: int) -> None:
    """Copy `folder_files(source, budget)` into `target`, keeping their places."""
    target.mkdir()
    for path in folder_files(source, budget):
        into = target / path.relative_to(source)
        into.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, into)


class ReadyClient(AsyncKernelClient):
    """jupyter_client's kernel client without a pause: `wait_for_ready` ends as soon as the kernel has
    answered kernel_info on shell and iopub, where jupyter_client then waits for 0.2 s of silence
    on iopub (a fifth of a second of every graded notebook). Nothing is lost: nbclient reads only
    the messages whose parent is a request of its own."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                pass
            else:
                if reply["msg_type"] == "kernel_info_reply":
                    try:
                        await self.iopub_channel.get_msg(timeout=0.2)  # iopub is connected too
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(reply)
                        return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts its kernel inside bubblewrap, talking over ZMQ ipc sockets."""

    client_factory = Type(ReadyClient, klass=AsyncKernelClient)

    sandbox = Dict(help="the Sandbox's fields (Sandbox.configure sets them)").tag(config=True)
    forbidden = List(Unicode(), help="folders that must never be visible to the kernel (the workspace)").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transport = "ipc"
        self.ip = SOCKETS
        self.cache_ports = False
        self._host_dir: Path | None = None

    @property
    def limits(self) -> Sandbox:
        return Sandbox(**self.sandbox)

    async def _async_pre_start_kernel(self, **kw):
        # The grader cannot signal a process inside the sandbox's session; interrupts travel as
        # messages on the control channel (ipykernel then raises KeyboardInterrupt itself).
        self.kernel_spec.interrupt_mode = "message"
        self.transport, self.ip = "ipc", SOCKETS
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        try:
            await self._launch_in_sandbox(kernel_cmd, **kw)
        except BaseException:
            self._remove_host_dir()
            raise

    async def _launch_in_sandbox(self, kernel_cmd: list[str], **kw) -> None:
        sandbox = self.limits
        env = dict(kw.pop("env", None) or os.environ)
        memory = int(env.get(MEMORY_ENV) or 0)
        limits = sandbox.limits(memory)
        host_dir = self._host_dir = make_host_dir(Path(self.connection_file).read_text(), KERNEL_STARTUP.read_text())
        cwd = kw.pop("cwd", None)
        copy_folder(Path(cwd) if cwd else None, host_dir / "input" / "work", sandbox.scratch_bytes // 2)
        hand_over(host_dir)
        host_connection = os.path.realpath(self.connection_file)
        kernel_cmd = [KERNEL_DIR + "/connection.json" if arg == host_connection else arg for arg in kernel_cmd]
        read_end, write_end = os.pipe()
        argv = bwrap_argv(kernel_cmd, host_dir=host_dir, limits=limits, scratch_bytes=sandbox.scratch_bytes, env=env,
                          forbidden=[Path(p) for p in self.forbidden],
                          info_fd=write_end)
        bwrap_log = open(host_dir.parent / (host_dir.name + ".log"), "w+b")  # bwrap's own errors, if any
        try:
            await super()._async_launch_kernel(
                argv, **kw, cwd=str(host_dir), env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                stdout=subprocess.DEVNULL, stderr=bwrap_log, pass_fds=(write_end,))
        finally:
            os.close(write_end)
        try:
            pid = _read_child_pid(read_end)
        finally:
            os.close(read_end)
        if pid is None:
            bwrap_log.seek(0)
            why = bwrap_log.read(2000).decode(errors="replace").strip() or "no message"
            bwrap_log.close()
            raise RuntimeError(f"bubblewrap could not start the grading sandbox: {why}")
        bwrap_log.close()
        # From here on the grader reaches the kernel's sockets through the sandbox's own root.
        self.ip = f"/proc/{pid}/root{SOCKETS}"

    def cleanup_ipc_files(self) -> None:
        """The sockets live in the sandbox's tmpfs, which disappears with it."""

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        """Until the kernel has ended. jupyter_client looks every 0.1 s; a graded notebook waits for
        its kernel's end, which takes milliseconds, so look every 5 ms."""
        while await self._async_is_alive():
            await asyncio.sleep(min(pollinterval, 0.005))

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            self._remove_host_dir()

    def _remove_host_dir(self) -> None:
        if self._host_dir is not None:
            shutil.rmtree(self._host_dir, ignore_errors=True)
            Path(self._host_dir.parent / (self._host_dir.name + ".log")).unlink(missing_ok=True)
            self._host_dir = None


def read_json(fd: int, timeout: float = 30.0) -> dict | None:
    """The JSON object a process writes to `fd` (bwrap's --info-fd, a warm parent's status line),
    read as it arrives; None if the writer closed `fd` or `timeout` passed before it was whole."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
        try:
            value = json.loads(data)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None


def _read_child_pid(fd: int, timeout: float = 30.0) -> int | None:
    """The host PID of the sandbox's PID 1, from bwrap's --info-fd JSON (None if bwrap failed)."""
    try:
        return int((read_json(fd, timeout) or {})["child-pid"])
    except (KeyError, TypeError, ValueError):
        return None
