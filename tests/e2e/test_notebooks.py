"""Every course notebook: runs clean, its solution gets full marks and its blank release gets 0.

The grading goes through `python -m grader autograde` (real nbgrader, real kernels) in one
batch; the clean-run check executes each solution notebook once with nbclient as the grader
would (NBGRADER_EXECUTION=autograde, so the capstone trains its short schedule) and fails on
anything written to stderr or any error, because nbgrader zeroes a test cell with stderr output
and students read warnings as mistakes. Execution times are printed, not asserted (the speed
targets are measured by benchmarks/, not by timed tests).
"""

import csv
import os
import subprocess
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient

from grader.intake import find_assignments
from grader.settings import COURSE_DIR, KERNEL_NAME, SOLUTIONS_DIR
from grader.release import write_notebook
from grader.sample import solved

ASSIGNMENTS = find_assignments(SOLUTIONS_DIR)
pytestmark = pytest.mark.e2e


def test_the_course_has_its_notebooks():
    """All eight lecture notebooks exist in solutions/ and in course/."""
    expected = ["01_embeddings", "02_attention", "03_masking", "04_multihead",
                "05_cross_attention", "06_add_norm", "07_output", "08_capstone"]
    assert ASSIGNMENTS == expected
    assert find_assignments(COURSE_DIR) == expected, "run `python -m grader release` and commit course/"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_notebook_runs_without_errors_or_stderr(assignment, monkeypatch):
    """The solution notebook runs top to bottom with no exception and nothing on stderr."""
    path = SOLUTIONS_DIR / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    start = time.monotonic()
    NotebookClient(nb, timeout=180, kernel_name=KERNEL_NAME, allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    print(f"{assignment}: executed in {time.monotonic() - start:.1f} s")
    problems = []
    for index, cell in enumerate(nb.cells):
        where = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                problems.append(f"{where}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr":
                problems.append(f"{where}: writes to stderr: {out.text[:300]}")
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def class_grades(tmp_path_factory):
    """Grade, per assignment, the solved notebook and the blank release in one autograde run."""
    root = tmp_path_factory.mktemp("notebooks")
    for assignment in ASSIGNMENTS:
        name = f"{assignment}.ipynb"
        released = nbformat.read(COURSE_DIR / assignment / name, as_version=4)
        source = nbformat.read(SOLUTIONS_DIR / assignment / name, as_version=4)
        for student, nb in [("solved", solved(released, source)), ("blank", released)]:
            path = root / "submitted" / student / assignment / name
            path.parent.mkdir(parents=True, exist_ok=True)
            write_notebook(nb, path)
    grader = [sys.executable, "-m", "grader"]
    run = subprocess.run([*grader, "autograde", str(root / "submitted"), "--workspace", str(root / "ws"),
                          "--workers", "2", "--expose-checks"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    subprocess.run([*grader, "report", "--workspace", str(root / "ws"), "--out", str(root / "out")],
                   check=True, capture_output=True)
    with open(root / "out" / "grades.csv", newline="") as f:
        return {(r["student_id"], r["assignment"]): (float(r["score"]), float(r["max_score"])) for r in csv.DictReader(f)}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_full_marks_and_blank_gets_zero(class_grades, assignment):
    """Graded by the real pipeline: solutions/ earns every point, the untouched release none."""
    score, max_score = class_grades[("solved", assignment)]
    assert max_score > 0 and score == max_score, f"{assignment}: solution scored {score}/{max_score}"
    blank, _ = class_grades[("blank", assignment)]
    assert blank == 0, f"{assignment}: the blank release scored {blank}/{max_score}"
