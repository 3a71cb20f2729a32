"""Every course notebook runs clean. (That its solution gets full marks and its blank release 0 is
graded with the corpus, in one batch: tests/e2e/test_corpus.py.)

The clean-run check executes each solution notebook once with nbclient as the grader
would (NBGRADER_EXECUTION=autograde, so the capstone trains its short schedule) and fails on
anything written to stderr or any error, because nbgrader zeroes a test cell with stderr output
and students read warnings as mistakes. Execution times are printed, not asserted (the speed
targets are measured by benchmarks/, not by timed tests).
"""

import time

import nbformat
import pytest
from nbclient import NotebookClient

from grader.intake import find_assignments
from grader.settings import COURSE_DIR, KERNEL_NAME, SOLUTIONS_DIR

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
