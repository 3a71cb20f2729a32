"""Issue 19: kernels forked from a warm parent are as isolated as fresh sandboxed kernels.

Real warm parents (grader/sandboxed/warm_parent.py in bubblewrap), real kernels, run through nbclient with
`ForkedKernelManager` as nbgrader's Execute runs them. Children try to affect the parent and the
next child; a fresh sandboxed kernel is the reference for what a kernel sees. The whole sample
class is graded with both kernels and must get the same grades.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import json
import os
import uuid
from pathlib import Path

import nbformat
import psutil
import pytest
from nbclient import NotebookClient
from nbgrader.api import Gradebook
from traitlets.config import Config

from grader.cli import main
from grader.forked import ForkedKernelManager, WarmParent
from grader.sample import build_sample_class
from grader.sandbox import Sandbox, SandboxedKernelManager
from grader.settings import KERNEL_NAME, SOLUTIONS_DIR
from grader.workspace import Workspace, environment, kernel_environment
from tests.e2e.processes import own_temporary_folder

MEMORY = 2 * 2**30  # the kernels' address space: an exhausting child hits it in a second
MARKER = f"forked-child-{uuid.uuid4().hex}"  # in the command line of what a child leaves behind


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    workspace = Workspace(tmp_path_factory.mktemp("forked") / "ws")
    workspace.prepare(SOLUTIONS_DIR)
    return workspace


@contextlib.contextmanager
def warm_parent(workspace: Workspace, threads: int):
    env = kernel_environment(workspace.ipython_dir, MEMORY, threads)
    with own_temporary_folder(), environment(**env):
        parent = WarmParent(Sandbox(), {**os.environ, **env})
        parent.start()
        try:
            yield parent
        finally:
            parent.stop()


@pytest.fixture(scope="module")
def parent(workspace):
    with warm_parent(workspace, threads=1) as parent:
        yield parent


def run(workspace: Workspace, cells: list[str], parent: WarmParent | None = None, threads: int = 1) -> list[str]:
    """Run `cells` in one kernel, forked from `parent` (None: a fresh sandboxed kernel); each cell's
    output text (an error as 'ERROR <name>')."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    c = Config()
    Sandbox().configure(c, warm_parent=parent.socket if parent else None)
    with environment(**kernel_environment(workspace.ipython_dir, MEMORY, threads)):
        # As nbgrader's Execute does it: the client makes, owns and shuts down the kernel manager.
        NotebookClient(nb, kernel_name=KERNEL_NAME, config=c, timeout=60, allow_errors=True,
                       kernel_manager_class=ForkedKernelManager if parent else SandboxedKernelManager,
                       extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
    return ["".join(o.get("text", "") if o.output_type == "stream" else f"ERROR {o.get('ename')}"
                    for o in cell.outputs if o.output_type in ("stream", "error")) for cell in nb.cells]


PROBE = """
import json, os, socket, sys
print(json.dumps({
    "uid": os.getuid(), "cwd": os.getcwd(), "path": sys.path, "argv": sys.argv[1:],
    "argv0": os.path.basename(sys.argv[0]), "env": dict(os.environ), "tmp": sorted(os.listdir("/tmp")),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()), "hostname": socket.gethostname(),
    "ipython": get_ipython().profile_dir.location, "startup": sorted(os.listdir(get_ipython().profile_dir.startup_dir)),
    "interfaces": [name for _, name in socket.if_nameindex()], "limits": open("/proc/self/limits").read(),
    "session_leader": os.getsid(0) == os.getpgid(0), "no_new_privs": open("/proc/self/status").read().split("NoNewPrivs:")[1].split()[0],
    "capabilities": [line.split()[1] for line in open("/proc/self/status") if line.startswith(("CapEff", "CapPrm", "CapBnd"))],
}))
"""


def test_a_forked_kernel_sees_what_a_fresh_sandboxed_kernel_sees(workspace, parent):
    """User, working folder, sys.path, sys.argv, environment, scratch, processes, network, limits,
    capabilities: the same in a forked kernel as in a fresh one (bwrap's own /proc shows its PID 1
    and the kernel; so does a forked child's: its init and the kernel)."""
    forked = json.loads(run(workspace, [PROBE], parent)[0])
    fresh = json.loads(run(workspace, [PROBE])[0])
    assert forked == fresh
    assert forked["uid"] == 65534 and forked["pids"] == [1, 2] and forked["interfaces"] == ["lo"]
    assert forked["startup"] == ["00-grader.py"] and forked["capabilities"] == ["0000000000000000"] * 3


def test_a_child_affects_neither_the_parent_nor_the_next_child(workspace, parent):
    """Files in its scratch, /dev/shm and IPython startup folder, a process that escapes into a new
    session, a patched torch and sys.modules: none of it reaches the next child."""
    attack = f"""
import os, subprocess, sys, torch
for path in ["/tmp/left-behind", "/dev/shm/left-behind", os.path.expanduser("~/left-behind")]:
    open(path, "w").write("from the last child")
startup = os.path.join(get_ipython().profile_dir.startup_dir, "99-evil.py")
open(startup, "w").write("raise SystemExit('zeroed by the last child')")
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{MARKER}"], start_new_session=True)
torch.allclose = lambda *args, **kwargs: True
sys.modules["json"] = None
print("attacked", os.path.exists(startup))
"""
    check = """
import glob, os, torch, json
print(sorted(glob.glob("/tmp/left-behind") + glob.glob("/dev/shm/*") + glob.glob(os.path.expanduser("~/left-behind"))),
      sorted(os.listdir(get_ipython().profile_dir.startup_dir)), torch.allclose(torch.zeros(1), torch.ones(1)),
      json.dumps(1))
"""
    assert run(workspace, [attack], parent) == ["attacked True\n"]
    assert not _processes_named(MARKER), "a process of the last child outlived it"
    assert run(workspace, [check], parent) == ["[] ['00-grader.py'] False 1\n"]
    assert parent.alive()


def test_a_child_that_exhausts_memory_leaves_the_next_one_working(workspace, parent):
    hog = "hog = []\nwhile True:\n    hog.append(bytearray(2**26))"
    assert run(workspace, [hog, "print(len(hog) * 64, 'MB')"], parent)[0] == "ERROR MemoryError"
    assert run(workspace, ["import torch\nprint(float(torch.ones(1000, 1000).sum()))"], parent) == ["1000000.0\n"]
    assert parent.alive()


def test_children_draw_their_own_random_numbers(workspace, parent):
    """torch and NumPy seed themselves once, at import, in the warm parent: each child re-seeds."""
    draw = "import random, numpy, torch\nprint(torch.randn(4).tolist(), numpy.random.rand(4).tolist(), random.random())"
    first, second = run(workspace, [draw], parent), run(workspace, [draw], parent)
    for one, other in zip(first[0].split("] "), second[0].split("] ")):
        assert one != other, (first, second)


def test_the_warm_parent_starts_no_thread_and_kernels_get_theirs(workspace, parent):
    """One thread in the warm parent (no torch or OpenMP pool before the fork); a kernel's torch uses
    the threads it was given, and its matrix products are right."""
    assert parent.threads == 1
    product = ("import numpy, torch\na = torch.randn(300, 300, dtype=torch.float64)\n"
               "print(torch.get_num_threads(), numpy.allclose((a @ a).numpy(), a.numpy() @ a.numpy()))")
    assert run(workspace, [product], parent, threads=1) == ["1 True\n"]
    with warm_parent(workspace, threads=2) as two:
        assert run(workspace, [product], two, threads=2) == ["2 True\n"]


def test_the_kernel_ends_when_its_grading_process_goes(workspace, parent):
    """The grader's connection closing (its grading process killed at --notebook-timeout) ends the
    kernel and everything it started."""
    c = Config()
    Sandbox().configure(c, warm_parent=parent.socket)
    marker = f"{MARKER}-orphan"

    async def scenario() -> list[str]:
        manager = ForkedKernelManager(kernel_name=KERNEL_NAME, config=c)
        with environment(**kernel_environment(workspace.ipython_dir, MEMORY, 1)):
            await manager.start_kernel(extra_arguments=["--IPKernelApp.log_level=ERROR"])
        client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
            reply = await client.execute_interactive(
                f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', "
                f"'{marker}'], start_new_session=True)", timeout=60)
            assert reply["content"]["status"] == "ok" and _processes_named(marker)
            child = manager.provisioner.process
            namespace = psutil.Process(child.pid)
            child.conn.close()  # as when the grading process dies
            await asyncio.to_thread(namespace.wait, 15)
            return _processes_named(marker)
        finally:
            client.stop_channels()
            await manager.cleanup_resources()

    # In a thread of its own: a test before this one in the same process may leave an event loop running.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, scenario()).result() == []


def _processes_named(text: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and text in " ".join(proc.info["cmdline"] or []):
                found.append(f"{proc.pid}: {' '.join(proc.info['cmdline'])}")
        except psutil.Error:
            pass
    return found


ASSIGNMENTS = ["01_embeddings", "07_output"]


def _grade(subs: Path, ws: Path, kernel: str) -> tuple[str, dict]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), own_temporary_folder():
        rc = main(["autograde", str(subs), "--workspace", str(ws), "--workers", "2", "--kernel", kernel])
    assert rc == 1 and "dave_broken" in out.getvalue(), (out.getvalue(), err.getvalue())  # the broken file only
    with Gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        cells = {(student.id, nb.name, grade.name): (grade.score, grade.max_score)
                 for student in gb.students for sub in student.submissions for nb in sub.notebooks
                 for grade in nb.grades}
    return err.getvalue(), cells


def test_the_sample_class_gets_the_grades_of_fresh_kernels(tmp_path):
    subs = tmp_path / "subs"
    build_sample_class(subs, ASSIGNMENTS, say=lambda _: None)
    forked_log, forked = _grade(subs, tmp_path / "forked", "forked")
    fresh_log, fresh = _grade(subs, tmp_path / "fresh", "fresh")
    assert "forked kernels" in forked_log and "fresh kernels" in fresh_log
    assert forked == fresh and len(forked) > 20
    assert {score for (student, _, _), (score, _) in forked.items() if student == "carol_blank"} == {0}
    assert all(score == top for (student, _, _), (score, top) in forked.items() if student == "alice_correct")
