"""Issue 9: one batch of hostile and odd submissions graded by `python -m grader autograde` in ONE run.

The batch (toy assignment, 2 workers, short limits) is graded once by a module-scoped fixture and
then once more to show that a rerun changes nothing; each case below is one small test on it.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
import uuid
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader.cli import main
from grader.release import write_notebook
from grader.sample import build_sample_class
from grader.sandbox import KERNEL_DIR
from tests.e2e.processes import own_temporary_folder

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOY_SOURCE = FIXTURES / "solutions"
TOY = "00_toy"
NB = f"{TOY}.ipynb"
KERNEL_PATH = FIXTURES / "kernel_path"
CELL_TIMEOUT = 5
NOTEBOOK_TIMEOUT = 25
WORKERS = 2

# student -> expected (score, max) or None when the submission must be listed as not graded.
GRADED = {
    "alice_correct": 3, "bob_partial": 1, "erin_warnings": 3,  # the sample class, for control
    "loop_forever": 2,  # `double` loops forever: interrupted after --timeout; square's 2 points stay
    "memory_hog": 2,  # `double` allocates 16 GiB: MemoryError, double undefined, square still right
    "chatty": 3,  # `double` prints a million lines, then is correct
    "hangs_when_graded": 2,  # `double` answers the visible test, then loops in the grader's calls: interrupted
    "floods_when_graded": 3,  # `double` prints 50 MB lines in the grader's calls and is correct
    "deleted_test": 3,  # test_double_values deleted: nbgrader puts it back and runs it
    "duplicated": 3,  # the solution and test cells of `square` duplicated (same grade ids twice)
    "other_kernel": 3,  # kernelspec python3 / "Some Other Kernel"
    "zipped": 3,  # a zip with nested folders and odd names
}
NOT_GRADED = {
    "kills_kernel": "the kernel died",
    "hangs": "did not stop when interrupted",
    "slow": "notebook time limit of 25 s",
    "truncated": "not a notebook: invalid JSON",
    "no_notebook": f"no {NB} in this folder",
    "spaces id": "contains a space",
}


def _source_of(nb, grade_id):
    [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell


def _variant(correct: Path, out: Path, change) -> Path:
    nb = nbformat.read(correct, as_version=4)
    change(nb)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_notebook(nb, out)
    return out


def _set(grade_id: str, source: str):
    def change(nb):
        _source_of(nb, grade_id).source = source
    return change


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("robust")
    sample, subs, ws = tmp / "sample", tmp / "subs", tmp / "ws"
    build_sample_class(sample, [TOY], source_dir=TOY_SOURCE, say=lambda _: None)
    for student in ["alice_correct", "bob_partial", "erin_warnings"]:
        (subs / student).mkdir(parents=True)
        (sample / student / TOY).rename(subs / student / TOY)
    correct = subs / "alice_correct" / TOY / NB

    def at(student):
        return subs / student / TOY / NB

    _variant(correct, at("loop_forever"), _set("double", "while True:\n    pass\ndef double(x):\n    return 2 * x"))
    _variant(correct, at("memory_hog"), _set("double", "hog = b'x' * (16 * 2**30)\ndef double(x):\n    return 2 * x"))
    _variant(correct, at("chatty"), _set("double", "for block in range(1000):\n    print('\\n'.join(str(1000 * block + i) for i in range(1000)))\n"
                                                  "def double(x):\n    return 2 * x"))
    _variant(correct, at("hangs_when_graded"), _set("double", "def double(x):\n    if x == 2:\n        return 4\n"
                                                              "    while True:\n        pass"))
    _variant(correct, at("floods_when_graded"), _set("double", "def double(x):\n    if x != 2:\n"
                                                               "        print('x' * 50_000_000)\n    return 2 * x"))
    _variant(correct, at("kills_kernel"), _set("double", "import os\nos._exit(1)"))
    # Ignores the interrupt nbgrader sends after --timeout: nbgrader gives up on the notebook.
    _variant(correct, at("hangs"), _set("double", "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                                  "while True:\n    time.sleep(0.1)"))

    # Many cells, each within the per-cell limit: only the notebook time limit stops it.
    def slow(nb):
        nb.cells[2:2] = [nbformat.v4.new_code_cell("import time\ntime.sleep(3)") for _ in range(12)]
    _variant(correct, at("slow"), slow)

    def delete_test(nb):
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_double_values"]
    _variant(correct, at("deleted_test"), delete_test)

    def duplicate(nb):
        index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "square")
        nb.cells[index + 2 : index + 2] = [nbformat.from_dict(json.loads(json.dumps(c))) for c in nb.cells[index : index + 2]]
        for cell in nb.cells[index + 2 : index + 4]:
            cell.id = uuid.uuid4().hex[:8]
    _variant(correct, at("duplicated"), duplicate)

    def other_kernel(nb):
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Some Other Kernel", "language": "python"}
    _variant(correct, at("other_kernel"), other_kernel)

    text = correct.read_text()
    at("truncated").parent.mkdir(parents=True)
    at("truncated").write_text(text[: len(text) // 2])
    (subs / "no_notebook" / TOY).mkdir(parents=True)
    (subs / "no_notebook" / TOY / "notes.txt").write_text("forgot to attach it")
    (subs / "no_notebook" / TOY / "Untitled (1).ipynb").write_text(text)
    with zipfile.ZipFile(subs / f"zipped_{TOY}.zip", "w") as archive:
        archive.writestr(f"Abgabe (final) – Zoë/sub dir/ü é/{NB}", text)
        archive.writestr(f"__MACOSX/Abgabe (final) – Zoë/sub dir/ü é/._{NB}", b"\x00\x05\x16\x07 not json")
        archive.writestr("Abgabe (final) – Zoë/Untitled (1).ipynb", text)
        archive.writestr("Abgabe (final) – Zoë/readme ä #1.txt", "hello")
    (subs / f"spaces id_{TOY}.ipynb").write_text(text)
    (subs / f"José Müller_{TOY}.ipynb").write_text(text)

    args = ["autograde", str(subs), "--workspace", str(ws), "--source", str(TOY_SOURCE), "--workers", str(WORKERS),
            "--timeout", str(CELL_TIMEOUT), "--notebook-timeout", str(NOTEBOOK_TIMEOUT)]
    mp = pytest.MonkeyPatch()
    mp.setenv("PYTHONPATH", str(KERNEL_PATH))
    started = time.time()
    folder_context = own_temporary_folder()
    folder = folder_context.__enter__()
    try:
        runs = []
        for _ in range(2):
            out, err = io.StringIO(), io.StringIO()
            start = time.monotonic()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main(args)
            seconds = time.monotonic() - start
            (tmp / f"run{len(runs)}.out").write_text(out.getvalue() + "\n--- stderr\n" + err.getvalue())
            runs.append({"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue(), "seconds": seconds,
                         "cells": _cells(ws), "hashes": (ws / "submissions.json").read_text()})
    finally:
        mp.undo()
        folder_context.__exit__(None, None, None)
    return {"subs": subs, "ws": ws, "runs": runs, "started": started, "folder": folder}


def _cells(ws: Path) -> dict[tuple[str, str], float]:
    """(student, grade_id) -> auto score, for every graded submission in the gradebook."""
    out = {}
    with Gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        for student in gb.students:
            for sub in student.submissions:
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        out[(student.id, grade.name)] = grade.score
    return out


def _scores(run) -> dict[str, float]:
    totals: dict[str, float] = {}
    for (student, _), score in run["cells"].items():
        totals[student] = totals.get(student, 0) + score
    return totals


def _failure_lines(run) -> list[str]:
    assert "could not grade" in run["stdout"], run["stdout"]
    return run["stdout"].split("could not grade", 1)[1].strip().splitlines()[1:]


def _reason(run, fragment_of_path: str) -> str:
    lines = [line for line in _failure_lines(run) if fragment_of_path in line]
    assert len(lines) == 1, (fragment_of_path, _failure_lines(run))
    return lines[0]


def test_batch_completes_within_bound(batch):
    first = batch["runs"][0]
    assert first["rc"] == 1  # some submissions could not be graded
    students = len(GRADED) + 3  # + kills_kernel, hangs and slow, which reach the grading stage
    bound = -(-students // WORKERS) * NOTEBOOK_TIMEOUT + 60
    assert first["seconds"] < bound, first["seconds"]


def test_control_students_unaffected(batch):
    got = _scores(batch["runs"][0])
    for student in ["alice_correct", "bob_partial", "erin_warnings"]:
        assert got[student] == GRADED[student], student


def test_correct_with_warnings_gets_full_marks(batch):
    assert _scores(batch["runs"][0])["erin_warnings"] == 3


def test_infinite_loop_is_interrupted(batch):
    run = batch["runs"][0]
    assert _scores(run)["loop_forever"] == 2
    assert run["cells"][("loop_forever", "test_double_values")] == 0


def test_kernel_killed_is_reported(batch):
    assert "the kernel died" in _reason(batch["runs"][0], "/kills_kernel/")


def test_uninterruptible_loop_is_reported(batch):
    line = _reason(batch["runs"][0], "/hangs/")
    assert "a cell ran past the per-cell --timeout and did not stop when interrupted" in line, line
    assert "CellTimeoutError" in line
    assert not (batch["ws"] / "autograded" / "hangs" / TOY).exists()


def test_slow_notebook_hits_the_notebook_time_limit(batch):
    line = _reason(batch["runs"][0], "/slow/")
    assert "notebook time limit of 25 s" in line and "--notebook-timeout" in line
    assert not (batch["ws"] / "autograded" / "slow" / TOY).exists()


def test_hidden_check_call_past_the_timeout_is_interrupted(batch):
    run = batch["runs"][0]
    assert run["cells"][("hangs_when_graded", "test_double_values")] == 0
    assert run["cells"][("hangs_when_graded", "test_square_values")] == 2  # the kernel still answers afterwards
    nb = nbformat.read(batch["ws"] / "autograded" / "hangs_when_graded" / TOY / NB, as_version=4)
    messages = [o.get("evalue", "") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert any(f"time limit of {CELL_TIMEOUT} s" in m for m in messages), messages


def test_output_of_the_grader_s_calls_is_dropped(batch):
    run = batch["runs"][0]
    assert _scores(run)["floods_when_graded"] == 3
    assert (batch["ws"] / "autograded" / "floods_when_graded" / TOY / NB).stat().st_size < 200_000


def test_memory_hog_is_capped(batch):
    run = batch["runs"][0]
    assert _scores(run)["memory_hog"] == 2
    assert run["cells"][("memory_hog", "test_double_values")] == 0
    nb = nbformat.read(batch["ws"] / "autograded" / "memory_hog" / TOY / NB, as_version=4)
    errors = [o.get("ename") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert "MemoryError" in errors


def test_million_lines_are_cut(batch):
    assert _scores(batch["runs"][0])["chatty"] == 3
    path = batch["ws"] / "autograded" / "chatty" / TOY / NB
    assert path.stat().st_size < 200_000
    nb = nbformat.read(path, as_version=4)
    lines = sum(o.get("text", "").count("\n") for c in nb.cells for o in c.get("outputs", []))
    assert 900 <= lines <= 1100


def test_truncated_notebook_is_reported(batch):
    assert "not a notebook: invalid JSON" in _reason(batch["runs"][0], "/truncated/")


def test_deleted_test_cell_is_put_back(batch):
    run = batch["runs"][0]
    assert _scores(run)["deleted_test"] == 3
    assert run["cells"][("deleted_test", "test_double_values")] == 1


def test_duplicated_cells_grade_once(batch):
    run = batch["runs"][0]
    assert _scores(run)["duplicated"] == 3
    assert sorted(name for student, name in run["cells"] if student == "duplicated") == [
        "test_double_values", "test_square_values"]


def test_other_kernel_name_is_overridden(batch):
    assert _scores(batch["runs"][0])["other_kernel"] == 3


def test_folder_without_the_notebook_is_reported(batch):
    line = _reason(batch["runs"][0], "/no_notebook/")
    assert f"no {NB} in this folder" in line and "Untitled (1).ipynb" in line


def test_zip_with_nested_folders_and_odd_names(batch):
    assert _scores(batch["runs"][0])["zipped"] == 3


def test_student_ids_with_spaces_or_accents_are_reported(batch):
    run = batch["runs"][0]
    assert "contains a space" in _reason(run, f"spaces id_{TOY}.ipynb")
    assert "contains" in _reason(run, f"José Müller_{TOY}.ipynb")


def test_every_submission_has_a_grade_or_a_reason(batch):
    run = batch["runs"][0]
    assert _scores(run) == {student: float(points) for student, points in GRADED.items()}
    assert len(_failure_lines(run)) == len(NOT_GRADED) + 1  # + José Müller
    for student in GRADED:
        assert re.search(rf"^{student}\s+{GRADED[student]}/3$", run["stdout"], flags=re.M), student


def test_gradebook_is_consistent(batch):
    ws = batch["ws"]
    with Gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        assert sorted(s.id for s in gb.students) == sorted(GRADED)
        for student in gb.students:
            sub = gb.find_submission(TOY, student.id)
            assert sub.max_score == 3 and sub.score == GRADED[student.id]
            for nb in sub.notebooks:
                assert {g.name for g in nb.grades} == {"test_double_values", "test_square_values"}
            assert (ws / "autograded" / student.id / TOY / NB).is_file()
    assert sorted(json.loads((ws / "submissions.json").read_text())) == sorted(f"{s}/{TOY}" for s in GRADED)
    assert not (ws / "tasks").exists()


def test_second_run_changes_nothing(batch):
    first, second = batch["runs"]
    assert second["rc"] == first["rc"]
    assert second["cells"] == first["cells"]
    assert second["hashes"] == first["hashes"]
    assert sorted(_failure_lines(second)) == sorted(_failure_lines(first))
    assert f"graded 0 submission(s), {len(GRADED)} unchanged" in second["stdout"]


def test_no_kernel_left_running(batch):
    """The killed worker's kernel (slow) and every other grading kernel are gone (give the OS a
    few seconds to reap processes killed at the very end of the run). A sandboxed kernel is known
    by its command line (grader/sandbox.py), an unsandboxed one by its IPython directory."""
    import psutil

    ipython_dir = str(batch["ws"] / "ipython")
    me = psutil.Process().pid
    deadline = time.monotonic() + 15
    while True:
        left = []
        for proc in psutil.process_iter(["pid", "cmdline", "status", "create_time"]):
            try:
                cmdline = " ".join(proc.info["cmdline"] or [])
                sandboxed = KERNEL_DIR in cmdline and batch["folder"] in cmdline
                if (proc.pid != me and proc.info["status"] != psutil.STATUS_ZOMBIE
                        and "resource_tracker" not in cmdline  # multiprocessing's, lives as long as pytest
                        and (sandboxed or proc.environ().get("IPYTHONDIR") == ipython_dir)):
                    left.append((proc.pid, " ".join(proc.info["cmdline"] or [])[:120]))
            except (psutil.Error, OSError):
                pass
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not left
