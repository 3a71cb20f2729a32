"""Issue 14: hostile submissions graded in ONE `python -m grader autograde` run, next to honest students.

Each attack is a copy of the correct toy submission whose first solution cell runs the attack and then
defines the right function, so an attack that changes nothing is simply graded 3/3. An attack prints
`LEAKED ...` when it got something it must not get and `BLOCKED ...` when it was stopped; the tests
read those lines from the graded notebooks. The attacker knows every path: the repository, the
workspace, the worker gradebook copies, the instructor's home.

The toy's hidden tests (`toy_checks`) run in the grader's process (trusted verdicts), so the kernel
sees neither them nor grader/checks/.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader.cli import main
from grader.release import write_notebook
from grader.sample import build_sample_class
from grader.sandbox import SCRATCH
from grader.settings import REPO_ROOT, SOLUTIONS_DIR
from grader.workspace import Workspace
from tests.e2e.processes import own_temporary_folder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOY_SOURCE = FIXTURES / "solutions"
TOY = "00_toy"
NB = f"{TOY}.ipynb"
KERNEL_PATH = FIXTURES / "kernel_path"
WORKERS = 2
MARKER = "sandbox-attack-child"  # in the command line of every process an attack leaves behind
SECRET = f"instructor-secret-{uuid.uuid4().hex}"  # in the grader's environment only
PROTECTED = ["solutions", "grader", "lib", "course", "tests/fixtures"]
CONTROLS = ["alice_correct", "bob_partial", "erin_warnings"]


def _correct_double() -> str:
    return "\ndef double(x):\n    return 2 * x\n"


def attacks(ws: Path) -> dict[str, str]:
    """student -> the code of its first solution cell (before a correct `double`)."""
    home = Path.home()
    gradebooks = [ws / "gradebook.db", Workspace(ws).tasks_dir, REPO_ROOT / "workspace" / "gradebook.db"]
    secrets = [SOLUTIONS_DIR / TOY / NB, TOY_SOURCE / TOY / NB, ws / "source" / TOY / NB, ws / "release" / TOY / NB,
               SOLUTIONS_DIR / "01_embeddings" / "01_embeddings.ipynb", REPO_ROOT / "grader" / "settings.py",
               "../../../source/00_toy/00_toy.ipynb", "../../../../solutions/01_embeddings/01_embeddings.ipynb",
               "../../../../../solutions/01_embeddings/01_embeddings.ipynb", home / ".bash_history",
               ws / "autograded" / "alice_correct" / TOY / NB]
    return {
        "read_solutions": f"""
for path in {[str(p) for p in secrets]!r}:
    try:
        text = open(path).read()
        print("LEAKED", path, text[:200] if "BEGIN SOLUTION" in text or "hidden" in text else len(text))
    except OSError as error:
        print("BLOCKED read", path, type(error).__name__)
""",
        "import_grader_config": """
for module in ("grader.settings", "grader.checks"):
    try:
        __import__(module)
        print("LEAKED", module, "imported")
    except ImportError as error:
        print("BLOCKED import", module, error)
""",
        "environment": f"""
import os
print("ENV", dict(os.environ))
for pid in ("1", "self", str(os.getppid())):
    try:
        print("ENV", pid, open(f"/proc/{{pid}}/environ").read())
    except OSError as error:
        print("BLOCKED environ", pid, error)
print("BLOCKED environment check done")
import socket
for where in [("127.0.0.1", 22), ("pypi.org", 443), ("1.1.1.1", 53)]:
    try:
        socket.create_connection(where, timeout=3)
        print("LEAKED network", where)
    except OSError as error:
        print("BLOCKED network", where, error)
""",
        "gradebook": f"""
import glob, os, sqlite3
paths = []
for place in {[str(p) for p in gradebooks]!r}:
    paths += glob.glob(os.path.join(place, "*.db")) if os.path.isdir(place) else [place]
for root, dirs, files in os.walk("/"):
    if root.startswith(("/proc", "/sys", "/usr")):
        dirs[:] = []
        continue
    paths += [os.path.join(root, f) for f in files if f.endswith(".db")]
print("BLOCKED searched", len(paths), "paths")
for path in paths:
    try:
        db = sqlite3.connect(f"file:{{path}}?mode=rw", uri=True)
        db.execute("update grade set manual_score = 0")
        db.commit()
        print("LEAKED wrote", path)
    except Exception as error:
        print("BLOCKED gradebook", path, error)
target = {str(ws / "autograded" / "alice_correct" / TOY / NB)!r}
try:
    open(target, "w").write("{{}}")
    print("LEAKED overwrote", target)
except OSError as error:
    print("BLOCKED overwrite", target, error)
""",
        "startup_files": f"""
import os
evil = "raise SystemExit('zeroed by a startup file')\\n"
for folder in [{str(ws / "ipython" / "profile_default" / "startup")!r},
               {str(Path.home() / ".ipython" / "profile_default" / "startup")!r},
               os.path.join(os.environ.get("IPYTHONDIR", "/nonexistent"), "profile_default", "startup"),
               os.path.expanduser("~/.ipython/profile_default/startup")]:
    try:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "00-aaa-evil.py"), "w") as f:
            f.write(evil)
        print("WROTE", folder)  # harmless only if it is this kernel's own scratch
    except OSError as error:
        print("BLOCKED startup", folder, error)
""",
        "edit_grader": f"""
import os
for path in {[str(p) for p in [REPO_ROOT / "grader" / "checks" / "common.py", REPO_ROOT / "grader" / "checks" / "__init__.py",
                                KERNEL_PATH / "toy_checks.py", SOLUTIONS_DIR / TOY / NB, TOY_SOURCE / TOY / NB,
                                REPO_ROOT / "lib" / "transformer_reference" / "__init__.py", REPO_ROOT / "course" / "x.py",
                                Path(sys.prefix) / "lib" / "sitecustomize.py"]]!r}:
    try:
        with open(path, "a") as f:
            f.write("\\nraise SystemExit('tampered')\\n")
        print("LEAKED appended", path)
    except OSError as error:
        print("BLOCKED edit", path, error)
""",
        "kill_ancestors": """
import os, signal
pids = []
pid = os.getpid()
while pid > 1:
    pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    pids.append(pid)
print("BLOCKED ancestors seen", pids)
for pid in pids + [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except OSError as error:
            print("BLOCKED kill", pid, error)
try:
    os.kill(-1, signal.SIGKILL)
    print("BLOCKED kill -1 reached only this sandbox")
except OSError as error:
    print("BLOCKED kill -1", error)
""",
        "setsid_child": f"""
import subprocess, sys
code = '''
import glob, sqlite3, time
end = time.time() + 90
while time.time() < end:
    for path in glob.glob({str(ws)!r} + "/*.db") + glob.glob({str(Workspace(ws).tasks_dir)!r} + "/*.db"):
        try:
            db = sqlite3.connect(path); db.execute("update grade set manual_score = 0"); db.commit()
        except Exception:
            pass
    time.sleep(0.2)
'''
for _ in range(3):
    subprocess.Popen([sys.executable, "-c", code, "{MARKER}"], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.Popen(["/bin/sh", "-c", "(setsid sleep 300 {MARKER} &) ; exit 0"])
print("BLOCKED started children (they must die with the kernel)")
""",
        "big_write": """
import os
chunk = b"x" * 2**26
for name in ["big.bin", "/tmp/big2.bin"]:
    written = 0
    try:
        with open(name, "wb") as f:
            while written < 2 * 2**30:
                f.write(chunk)
                written += len(chunk)
        print("LEAKED wrote 2 GB to", name)
    except OSError as error:
        print("BLOCKED big write", name, written // 2**20, "MB", error)
count = 0
try:
    while count < 64:
        with open(f"/tmp/many{count}", "wb") as f:
            f.write(b"y" * 2**27)
        count += 1
    print("LEAKED wrote", count, "files of 128 MB")
except OSError as error:
    print("BLOCKED many files after", count, error)
for name in os.listdir("/tmp"):
    if name.startswith(("many", "big")):
        os.remove("/tmp/" + name)
""",
        "huge_line": """
print("x" * 150_000_000)
print("BLOCKED? the line above must be cut")
""",
        "fork_bomb": """
import os, time
children = 0
try:
    while children < 5000:
        if os.fork() == 0:
            time.sleep(300)
            os._exit(0)
        children += 1
    print("LEAKED forked", children)
except OSError as error:
    print("BLOCKED fork after", children, "children:", error)
""",
    }


# Attacks that would stop their own kernel are listed with the reason (student -> part of the reason);
# every other attack is graded (with 0: the trusted verdicts refuse notebooks that reach into the
# machinery; the fork bomb also uses up its own process limit).
LISTED: dict[str, str] = {}


def _outputs(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(
        output.get("text", "") + output.get("evalue", "") + "\n".join(output.get("traceback", []))
        for cell in nb.cells if cell.cell_type == "code" for output in cell.get("outputs", []))


def _cells(ws: Path) -> dict[tuple[str, str], float]:
    with Gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        return {(student.id, grade.name): grade.score
                for student in gb.students for sub in student.submissions
                for nb in sub.notebooks for grade in nb.grades}


def _tree_digest(paths: list[Path]) -> dict[str, str]:
    digests = {}
    for top in paths:
        for path in sorted(top.rglob("*")) if top.is_dir() else [top]:
            if path.is_file() and "__pycache__" not in path.parts:
                digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", *PROTECTED], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=True).stdout


def _startup_files(ws: Path) -> list[str]:
    folders = [ws / "ipython" / "profile_default" / "startup", Path.home() / ".ipython" / "profile_default" / "startup"]
    return sorted(str(p) for folder in folders if folder.is_dir() for p in folder.iterdir())


def _left_over(since: float, folder: str) -> list[str]:
    """Processes of the run still alive: its sandboxes and kernels (their command lines name the run's
    temporary `folder`), and whatever the attacks started (MARKER)."""
    import psutil

    left = []
    for proc in psutil.process_iter(["pid", "cmdline", "create_time", "status"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.info["create_time"] < since - 1:
                continue
            if MARKER in cmdline or folder in cmdline:
                left.append(f"{proc.pid}: {cmdline[:150]}")
        except psutil.Error:
            pass
    return left


def _run(args: list[str]) -> dict:
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args)
    return {"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue(), "seconds": time.monotonic() - start}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sandbox")
    sample, subs, clean_subs = tmp / "sample", tmp / "subs", tmp / "clean_subs"
    ws, clean_ws = tmp / "ws", tmp / "clean_ws"
    build_sample_class(sample, [TOY], source_dir=TOY_SOURCE, say=lambda _: None)
    for student in CONTROLS:
        for into in (subs, clean_subs):
            (into / student / TOY).mkdir(parents=True)
            shutil.copyfile(sample / student / TOY / NB, into / student / TOY / NB)
    correct = nbformat.read(subs / "alice_correct" / TOY / NB, as_version=4)
    for student, code in attacks(ws).items():
        nb = nbformat.from_dict(correct)
        [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "double"]
        cell.source = code + _correct_double()
        path = subs / student / TOY / NB
        path.parent.mkdir(parents=True)
        write_notebook(nb, path)

    common = ["--source", str(TOY_SOURCE), "--workers", str(WORKERS), "--timeout", "30",
              "--notebook-timeout", "120"]
    mp = pytest.MonkeyPatch()
    mp.setenv("PYTHONPATH", str(KERNEL_PATH))
    mp.setenv("GRADER_TEST_SECRET", SECRET)
    folder_context = own_temporary_folder()
    folder = folder_context.__enter__()
    try:
        clean = _run(["autograde", str(clean_subs), "--workspace", str(clean_ws), *common])
        assert clean["rc"] == 0, clean
        protected = [REPO_ROOT / p for p in PROTECTED]
        before = {"tree": _tree_digest(protected), "git": _git_status(), "startup": _startup_files(ws) + [
            str(ws / "ipython" / "profile_default" / "startup" / "00-grader.py")]}  # the grader's own
        start = time.time()
        first = _run(["autograde", str(subs), "--workspace", str(ws), *common])
        first["cells"] = _cells(ws)
        time.sleep(2)  # a child that outlived its kernel would now be writing
        second = _run(["autograde", str(subs), "--workspace", str(ws), *common])
        second["cells"] = _cells(ws)
        after = {"tree": _tree_digest(protected), "git": _git_status(), "startup": _startup_files(ws)}
    finally:
        mp.undo()
        folder_context.__exit__(None, None, None)
    for name, run in (("clean", clean), ("first", first), ("second", second)):
        (tmp / f"{name}.out").write_text(run["stdout"] + "\n--- stderr\n" + run["stderr"])
    return {"ws": ws, "clean": _cells(clean_ws), "first": first, "second": second, "before": before,
            "after": after, "start": start, "folder": folder, "students": sorted(attacks(ws))}


def _failures(run) -> list[str]:
    if "could not grade" not in run["stdout"]:
        return []
    return run["stdout"].split("could not grade", 1)[1].strip().splitlines()[1:]


def _graded_notebook(batch, student) -> Path:
    return batch["ws"] / "autograded" / student / TOY / NB


def test_the_attacks_ran_in_forked_kernels(batch):
    """The default kernels (issue 19): forked from a warm parent, which must hold as a fresh kernel does."""
    assert "forked kernels" in batch["first"]["stderr"], batch["first"]["stderr"]


def test_controls_keep_their_clean_run_grades(batch):
    cells = batch["first"]["cells"]
    for student in CONTROLS:
        mine = {key: score for key, score in cells.items() if key[0] == student}
        clean = {key: score for key, score in batch["clean"].items() if key[0] == student}
        assert mine == clean and clean, student
    assert sum(s for (student, _), s in batch["clean"].items() if student == "alice_correct") == 3


def test_every_attack_is_graded_or_listed_with_a_reason(batch):
    cells, failures = batch["first"]["cells"], _failures(batch["first"])
    for student in batch["students"]:
        if student in LISTED:
            lines = [line for line in failures if f"/{student}/" in line]
            assert len(lines) == 1 and LISTED[student] in lines[0], (student, failures)
        else:
            mine = {name: score for (who, name), score in cells.items() if who == student}
            assert sorted(mine) == ["test_double_values", "test_square_values"], (student, failures)
            # Controls keep their clean grades (tested above). An attack's own score is not the sandbox's
            # business: its notebook reaches into the machinery (os, subprocess, ...), which the trusted
            # verdicts refuse with 0 (README "Where grades are decided").
    assert len(failures) == len(LISTED), failures


@pytest.mark.parametrize("student", ["read_solutions", "import_grader_config", "environment", "gradebook",
                                     "edit_grader", "big_write", "fork_bomb", "kill_ancestors"])
def test_attack_was_blocked(batch, student):
    text = _outputs(_graded_notebook(batch, student))
    assert "BLOCKED" in text, text[:2000]  # the attack ran
    assert "LEAKED" not in text, [line for line in text.splitlines() if "LEAKED" in line]


def test_the_attacks_aim_at_what_exists(batch):
    """The grader's modules, its per-task gradebooks and the files the attacks try to read are real."""
    import importlib.util

    assert importlib.util.find_spec("grader.settings") and importlib.util.find_spec("grader.checks")
    assert (REPO_ROOT / "grader" / "settings.py").is_file() and (TOY_SOURCE / TOY / NB).is_file()
    assert Workspace(batch["ws"]).tasks_dir.parent == batch["ws"]
    assert "workspace.tasks_dir" in (REPO_ROOT / "grader" / "autograde.py").read_text()  # the task gradebooks


def test_no_secret_reaches_the_kernel(batch):
    text = _outputs(_graded_notebook(batch, "environment"))
    assert "ENV {" in text
    assert SECRET not in text and "GRADER_TEST_SECRET" not in text


def test_solutions_are_not_read(batch):
    text = _outputs(_graded_notebook(batch, "read_solutions"))
    assert "BEGIN SOLUTION" not in text and "secret_input" not in text


def test_repository_is_unchanged(batch):
    assert batch["after"]["git"] == batch["before"]["git"]
    assert batch["after"]["tree"] == batch["before"]["tree"]


def test_no_startup_file_was_added(batch):
    assert batch["after"]["startup"] == sorted(batch["before"]["startup"])
    text = _outputs(_graded_notebook(batch, "startup_files"))
    wrote = [line.split()[1] for line in text.splitlines() if line.startswith("WROTE")]
    assert wrote and all(path.startswith(SCRATCH + "/") for path in wrote), wrote  # its own tmpfs only
    assert "BLOCKED startup" in text


def test_huge_output_line_is_cut(batch):
    path = _graded_notebook(batch, "huge_line")
    assert path.stat().st_size < 1_000_000
    assert "Output truncated" in _outputs(path)


def test_gradebook_rows_are_not_changed_by_others(batch):
    first, second = batch["first"]["cells"], batch["second"]["cells"]
    assert first == second
    # the manual scores the attacks tried to zero are still unset
    with Gradebook(f"sqlite:///{batch['ws'] / 'gradebook.db'}") as gb:
        for student in gb.students:
            for sub in student.submissions:
                for nb in sub.notebooks:
                    assert all(grade.manual_score is None for grade in nb.grades), student.id


def test_no_process_of_the_run_is_left(batch):
    deadline = time.monotonic() + 15
    while (left := _left_over(batch["start"], batch["folder"])) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left


def test_second_run_grades_nothing_new(batch):
    first, second = batch["first"], batch["second"]
    assert second["rc"] == first["rc"] == (1 if LISTED else 0)
    assert "graded 0 submission(s)" in second["stdout"]
    assert sorted(_failures(second)) == sorted(_failures(first))
