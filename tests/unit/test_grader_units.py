"""Fast tests of the grader's own logic: reading submissions, traceback filtering, failure lines.

No kernel runs here; tests/test_grader_pipeline.py grades for real.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from grader.intake import Submission, find_assignments, notebook_problem, scan, student_problem
from grader.workspace import Workspace, link_dir
from grader.feedback import visible_traceback
from grader.report import SubmissionGrade, grade_table
from grader.runner import failure_reason

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOY_SOURCE = FIXTURES / "solutions"
TOY = "00_toy"
NOTEBOOK = (TOY_SOURCE / TOY / f"{TOY}.ipynb").read_bytes()


def test_fixture_assignment_is_found():
    assert find_assignments(TOY_SOURCE) == [TOY]


@pytest.mark.parametrize("student", ["alice", "jdoe42", "a.b-c_d", "jane@uni.edu", "12345"])
def test_good_student_ids(student):
    assert student_problem(student) is None


@pytest.mark.parametrize(
    "student, words",
    [("bad id", "space"), ("zoë", "non-ASCII"), ("josé", "non-ASCII"), ("a/b", "characters other"),
     ("-lead", "characters other"), ("a*", "characters other")],
)
def test_bad_student_ids_are_explained(student, words):
    problem = student_problem(student)
    assert problem and words in problem and repr(student) in problem


@pytest.mark.parametrize(
    "content, words",
    [
        (b"not json", "invalid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "without a list of cells"),
        (b'{"cells": [], "nbformat": 3, "metadata": {}}', "nbformat 4"),
        (b'{"a": 1}', "without a list of cells"),
    ],
)
def test_not_a_notebook(content, words):
    assert words in notebook_problem(content)


def test_a_notebook_is_a_notebook():
    assert notebook_problem(NOTEBOOK) is None


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def test_scan_accepts_both_layouts_and_names_every_misfit(tmp_path):
    subs = tmp_path / "subs"

    def put(relative: str, content: bytes = NOTEBOOK) -> None:
        path = subs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    put(f"alice/{TOY}/{TOY}.ipynb")
    put(f"alice/{TOY}/timestamp.txt", b"2025-01-01 10:00:00")
    put(f"alice/{TOY}/helper.py", b"print('ignored')")
    put(f"bad id/{TOY}/{TOY}.ipynb")
    put(f"zoë/{TOY}/{TOY}.ipynb")
    put("carl/99_nope/99_nope.ipynb")
    put(f"dora/{TOY}/{TOY}.ipynb", b"not json")
    put("eve/stray.ipynb")
    put(f"fay/{TOY}/{TOY}-Copy1.ipynb")
    put(f"hal_{TOY}.ipynb")
    put(f"doejane_12345_67890_{TOY}.ipynb")
    put("ivy_99_nope.ipynb")
    put("notes.txt", b"hello")
    put(f"jay_{TOY}.zip", b"not a zip")
    put(f"kim lee_{TOY}.ipynb")
    put(f"alice_{TOY}.ipynb")  # a second submission of the same student and assignment
    put(".DS_Store", b"")
    subs.joinpath(".ipynb_checkpoints").mkdir()
    _zip(subs / f"gus_{TOY}.zip", {f"gus/{TOY}.ipynb": NOTEBOOK, f"__MACOSX/gus/._{TOY}.ipynb": b"junk"})
    _zip(subs / f"lou_{TOY}.zip", {"readme.txt": b"no notebook"})

    submissions, failures = scan(subs, TOY_SOURCE)

    found = {(s.student, s.assignment): s for s in submissions}
    assert set(found) == {("alice", TOY), ("hal", TOY), ("gus", TOY), ("doejane_12345_67890", TOY)}
    assert found[("alice", TOY)].timestamp == b"2025-01-01 10:00:00"
    assert set(found[("alice", TOY)].notebooks) == {f"{TOY}.ipynb"}  # helper.py is not staged
    assert found[("gus", TOY)].notebooks == {f"{TOY}.ipynb": NOTEBOOK}

    reasons = {Path(f.path).relative_to(subs).as_posix(): f.reason for f in failures}
    assert set(reasons) == {
        "bad id", "zoë", "carl/99_nope", f"dora/{TOY}/{TOY}.ipynb", "eve/stray.ipynb", f"fay/{TOY}",
        "ivy_99_nope.ipynb", "notes.txt", f"jay_{TOY}.zip", f"kim lee_{TOY}.ipynb", f"alice_{TOY}.ipynb",
        f"lou_{TOY}.zip",
    }
    assert "space" in reasons["bad id"] and "non-ASCII" in reasons["zoë"]
    assert "no assignment '99_nope'" in reasons["carl/99_nope"] and TOY in reasons["carl/99_nope"]
    assert "invalid JSON" in reasons[f"dora/{TOY}/{TOY}.ipynb"]
    assert "expected <student_id>/<assignment>" in reasons["eve/stray.ipynb"]
    assert f"{TOY}-Copy1.ipynb" in reasons[f"fay/{TOY}"]
    assert "does not end in _<assignment>" in reasons["ivy_99_nope.ipynb"]
    assert "not a notebook, a zip or a student folder" in reasons["notes.txt"]
    assert "not a readable zip" in reasons[f"jay_{TOY}.zip"]
    assert "space" in reasons[f"kim lee_{TOY}.ipynb"]
    assert "second submission" in reasons[f"alice_{TOY}.ipynb"]
    assert f"no {TOY}.ipynb" in reasons[f"lou_{TOY}.zip"]


def test_flat_names_match_the_longest_assignment_at_the_end(tmp_path):
    source = tmp_path / "solutions"
    for assignment in ["toy", TOY]:
        (source / assignment).mkdir(parents=True)
        (source / assignment / f"{assignment}.ipynb").write_bytes(NOTEBOOK)
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / f"alice_{TOY}.ipynb").write_bytes(NOTEBOOK)
    (subs / "bob_toy.ipynb").write_bytes(NOTEBOOK)
    submissions, failures = scan(subs, source)
    assert failures == []
    assert {(s.student, s.assignment) for s in submissions} == {("alice", TOY), ("bob", "toy")}


def test_submission_digest_follows_content():
    a = Submission("s", TOY, {f"{TOY}.ipynb": NOTEBOOK}, Path("x"))
    b = Submission("s", TOY, {f"{TOY}.ipynb": NOTEBOOK}, Path("elsewhere"))
    c = Submission("s", TOY, {f"{TOY}.ipynb": NOTEBOOK + b" "}, Path("x"))
    assert a.digest() == b.digest() != c.digest()


ANSI_TRACEBACK = [
    "\x1b[31m---------------------------------------------------------------------------\x1b[39m",
    "\x1b[31mAssertionError\x1b[39m                            Traceback (most recent call last)",
    "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[7]\x1b[39m\x1b[32m, line 6\x1b[39m\n\x1b[32m----> 6\x1b[39m hidden_checks.swt_values(softmax_with_temperature)\n",
    "\x1b[36mFile \x1b[39m\x1b[32m/repo/grader/checks/common.py:80\x1b[39m, in \x1b[36mcheck.<locals>.wrapper\x1b[39m\x1b[34m(*args, **kwargs)\x1b[39m\n\x1b[32m---> 80\x1b[39m \x1b[38;5;28;01mreturn\x1b[39;00m fn(*args, **kwargs)\n",
    "\x1b[36mFile \x1b[39m\x1b[32m/repo/grader/checks/output.py:120\x1b[39m, in \x1b[36mswt_values\x1b[39m\x1b[34m(fn)\x1b[39m\n\x1b[32m    119\x1b[39m expected = torch.tensor([0.1, 0.2, 0.7])\n\x1b[32m--> 120\x1b[39m expect_close(fn(x), expected)\n",
    "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[5]\x1b[39m\x1b[32m, line 3\x1b[39m, in \x1b[36msoftmax_with_temperature\x1b[39m\x1b[34m(logits, temperature)\x1b[39m\n\x1b[32m----> 3\x1b[39m \x1b[38;5;28;01mreturn\x1b[39;00m logits * temperature\n",
    "\x1b[36mFile \x1b[39m\x1b[32m/repo/grader/checks/common.py:200\x1b[39m, in \x1b[36mexpect_close\x1b[39m\n\x1b[32m--> 200\x1b[39m \x1b[38;5;28;01mraise\x1b[39;00m AssertionError(message)\n",
    "\x1b[31mAssertionError\x1b[39m: softmax_with_temperature multiplies the logits by the temperature: divide them",
]


def test_traceback_keeps_notebook_frames_and_the_message_only():
    kept = visible_traceback(ANSI_TRACEBACK)
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(kept))
    assert "grader/checks" not in text and "expected = torch.tensor" not in text and "raise" not in text
    assert "In[7]" in text and "In[5]" in text and "return logits * temperature" in text
    assert kept[-1].endswith("divide them")
    assert "2 frames in library or grader code not shown" in text
    assert "1 frame in library or grader code not shown" in text


def test_traceback_without_library_frames_is_unchanged():
    plain = [ANSI_TRACEBACK[0], ANSI_TRACEBACK[1], ANSI_TRACEBACK[2], ANSI_TRACEBACK[-1]]
    assert visible_traceback(plain) == plain


def test_failure_reason_is_the_innermost_exception():
    log = (
        "[INFO] Updating/creating assignment 'a': {}\n"
        "[ERROR] There was an error processing assignment: /ws/submitted/alice/a\n"
        "[ERROR] Traceback (most recent call last):\n"
        '      File "/x/base.py", line 386, in convert_notebooks\n'
        "        self.init_assignment(gd['assignment_id'], gd['student_id'])\n"
        "        ^^^^^^^^^^^^^^^^^^^^^^\n"
        "    nbclient.exceptions.DeadKernelError: Kernel died\n"
        "    \n"
        "[ERROR] There was an error processing assignment 'a' for student 'alice'\n"
        "[ERROR] Please see the the above traceback for details on the specific errors on the above failures.\n"
    )
    assert failure_reason(log, "Traceback ...\nNbGraderException: see above") == (
        "the kernel died while running the notebook (a crash, os._exit, or out of memory) "
        "[nbclient.exceptions.DeadKernelError: Kernel died]"
    )
    assert failure_reason("[ERROR] No notebooks were matched by 'x'\n", "") == "No notebooks were matched by 'x'"


def test_grade_table_lines_up_students_and_assignments():
    table = grade_table([
        SubmissionGrade("alice", "01_a", 3, 3), SubmissionGrade("bob", "01_a", 1.5, 3), SubmissionGrade("alice", "02_b", 0, 2),
    ])
    assert table.splitlines() == [
        "student_id  01_a   02_b",
        "----------  -----  ----",
        "alice       3/3    0/2",
        "bob         1.5/3  -",
    ]


def test_workspace_source_link_is_replaced_not_followed(tmp_path):
    workspace = Workspace.at(tmp_path / "ws")
    workspace.prepare(TOY_SOURCE)
    assert (workspace.root / "source").resolve() == TOY_SOURCE.resolve()
    other = tmp_path / "other"
    shutil.copytree(TOY_SOURCE, other)
    workspace.prepare(other)
    assert (workspace.root / "source").resolve() == other.resolve()
    assert (TOY_SOURCE / TOY / f"{TOY}.ipynb").exists()  # the old target was left alone
    startup = workspace.ipython_dir / "profile_default" / "startup" / "00-grader.py"
    assert "RLIMIT_AS" in startup.read_text()  # the kernel start-up file was written
    link_dir(workspace.root / "source", other)  # idempotent


def test_hashes_round_trip(tmp_path):
    workspace = Workspace.at(tmp_path)
    assert workspace.load_hashes() == {}
    workspace.save_hashes({"a/b": "123"})
    assert json.loads(workspace.hashes.read_text()) == {"a/b": "123"}


def test_assignments_with_more_code_are_graded_first(tmp_path):
    """A batch starts with the longest notebooks (most code in solutions/), students in order within
    an assignment, so no capstone is left running alone at the end while the other workers idle."""
    import nbformat

    from grader.autograde import _largest_first

    for assignment, cells in (("01_small", ["x = 1"]), ("02_big", ["x = 1", "y = [i for i in range(10)]\n" * 20])):
        (tmp_path / assignment).mkdir()
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nbformat.write(nb, tmp_path / assignment / f"{assignment}.ipynb")
    todo = [Submission(student, assignment, {}, tmp_path) for student in ("ann", "bob") for assignment in ("01_small", "02_big")]
    order = [sub.key for sub in _largest_first(todo, tmp_path)]
    assert order == ["ann/02_big", "bob/02_big", "ann/01_small", "bob/01_small"]


def test_run_options_decide_the_kernel_mode_and_say_why_in_order():
    """RunOptions.checked(): a bad option stops the run; without a sandbox the kernels are fresh,
    said before the --no-sandbox warning; the source folder is made absolute."""
    from dataclasses import replace

    from grader.autograde import NO_SANDBOX_WARNING, RunOptions
    from grader.forked import unsupported_reason
    from grader.settings import GraderError, GradingLimits

    lines: list[str] = []
    options = RunOptions(Path("."), GradingLimits(), 1, None, False, None, None, lines.append)
    with pytest.raises(GraderError, match="^--workers must be at least 1, got 0$"):
        replace(options, workers=0).checked()
    with pytest.raises(GraderError, match="^--kernel must be one of forked, fresh, got 'warm'$"):
        replace(options, kernel="warm").checked()
    with pytest.raises(GraderError, match="^--kernel forked: .*--no-sandbox turns it off; use --kernel fresh$"):
        replace(options, kernel="forked").checked()
    assert lines == []
    checked = options.checked()
    assert checked.kernel == "fresh" and checked.sandbox is None and checked.source_dir == Path(".").resolve()
    assert lines == [f"fresh kernels: {unsupported_reason(None, None)}", NO_SANDBOX_WARNING]


def test_dask_without_distributed_says_what_to_install(monkeypatch):
    """--dask on a machine without Dask's `distributed` stops before grading, naming the packages."""
    import sys

    from grader.autograde import RunOptions
    from grader.settings import GraderError, GradingLimits

    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises ImportError
    monkeypatch.delitem(sys.modules, "grader.dask_workers", raising=False)
    options = RunOptions(Path("."), GradingLimits(), 1, "tcp://127.0.0.1:8786", False, None, "fresh", print)
    with pytest.raises(GraderError, match="^--dask needs the packages dask and distributed .*pip install -r requirements.txt"):
        options.checked()
