"""The instructor's review queue and report, with the real nbgrader, real kernels and gradebook.

The toy class is graded; one student's exercise is then flagged for review the way the verdicts
flag an exercise the grader cannot verify (nbgrader's `needs_manual_grade`, a score of 0, and the
test cell's error starting "Needs your instructor's review:"). Written here by hand, as the
grader's own flagging does, so that the queue is tested on its contract alone. Then: the queue in
`review` and in the report, a decision, grades.csv, re-grading the same submission (the decision
stands) and a changed one (it is dropped).
"""

from __future__ import annotations

import csv
import html
import json
import re
import shutil

import nbformat
import pytest
from nbformat.v4 import new_output

from grader.gradebook import REVIEW_PREFIX, open_gradebook
from grader.release import write_notebook

from tests.e2e.test_grader_pipeline import TOY, TOY_SOURCE, cli, html_text, scores, set_solution, toy_kernel_path  # noqa: F401

pytestmark = pytest.mark.e2e

REASON = "the grader cannot read what `square` runs: exec (line 2). It scores 0 until your instructor has looked at it."


def flag_for_review(ws, student: str, grade_id: str) -> None:
    """Flag one test cell as the verdicts do for an exercise they cannot verify."""
    with open_gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        grade = gb.find_grade(grade_id, TOY, TOY, student)
        grade.auto_score, grade.needs_manual_grade = 0.0, True
        gb.db.commit()
    path = ws / "autograded" / student / TOY / f"{TOY}.ipynb"
    nb = nbformat.read(path, as_version=4)
    [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    cell.outputs = [new_output("error", ename="AssertionError", evalue=f"{REVIEW_PREFIX} {REASON}",
                               traceback=[f"\x1b[31mAssertionError\x1b[39m: {REVIEW_PREFIX} {REASON}"])]
    write_notebook(nb, path)


def html_text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def manual(ws, student: str, grade_id: str):
    with open_gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        grade = gb.find_grade(grade_id, TOY, TOY, student)
        return grade.manual_score, grade.needs_manual_grade


def test_review_queue_decision_and_regrading(tmp_path, capsys, toy_kernel_path):
    subs, ws, out = tmp_path / "submitted", tmp_path / "ws", tmp_path / "report"
    cli(capsys, "sample-class", subs, "--source", TOY_SOURCE)
    shutil.rmtree(subs / "dave_broken")
    gina = subs / "gina" / TOY / f"{TOY}.ipynb"
    gina.parent.mkdir(parents=True)
    shutil.copy(subs / "alice_correct" / TOY / f"{TOY}.ipynb", gina)
    cli(capsys, "autograde", subs, "--workspace", ws, "--source", TOY_SOURCE)
    flag_for_review(ws, "gina", "test_square_values")

    # The queue, on the command line and in the report; the flagged exercise scores 0.
    listed = cli(capsys, "review", "--workspace", ws)
    assert "1 test cell(s) to review, 0 decided" in listed.stdout
    assert f"gina  {TOY}  square (test_square_values)  to review: {REASON}" in listed.stdout
    cli(capsys, "report", "--workspace", ws, "--out", out)
    assert scores(out / "grades.csv")["gina"] == (1, 3)
    page, raw = html_text(out / "summary.html"), (out / "summary.html").read_text()
    assert "1 test cell(s) to review, 0 decided" in page
    assert (f'<tr class="pending"><td>gina</td><td>{TOY}</td><td>square</td><td>test_square_values</td>'
            f"<td>{html.escape(REASON)}</td><td>to review</td></tr>") in raw
    assert "not written yet (still raises NotImplementedError)" in page  # bob's blank square, a named failure
    assert "http" not in raw and "src=\"data:image/png;base64," in raw  # offline: no address, figures inside

    # Bad decisions are refused and change nothing.
    refused = cli(capsys, "review", "--workspace", ws, "gina", TOY, "test_square_values", "--score", "5", check_rc=1)
    assert "between 0 and 2" in refused.stderr
    cli(capsys, "review", "--workspace", ws, "gina", TOY, "cube", "--accept", check_rc=1)
    cli(capsys, "review", "--workspace", ws, "nobody", TOY, "square", "--accept", check_rc=1)
    assert manual(ws, "gina", "test_square_values") == (None, True)

    # A decision: the manual score overrides the automatic 0 in the gradebook and grades.csv.
    cli(capsys, "review", "--workspace", ws, "gina", TOY, "square", "--score", "1.5")
    assert manual(ws, "gina", "test_square_values") == (1.5, False)
    cli(capsys, "report", "--workspace", ws, "--out", out)
    assert scores(out / "grades.csv")["gina"] == (2.5, 3)
    with open(out / "lms.csv", newline="") as fh:
        lms = {row[0]: row[1:] for row in csv.reader(fh)}
    assert lms["Points Possible"] == ["3", "3"] and lms["gina"] == ["2.5", "2.5"]
    assert "0 test cell(s) to review, 1 decided" in html_text(out / "summary.html")

    # Feedback pages: the index names each test by its title, each failure is shown once, and the
    # equations are typeset by the environment's own MathJax, next to the pages (no CDN).
    cli(capsys, "feedback", "--workspace", ws)
    page = (ws / "feedback" / "bob_partial" / TOY / f"{TOY}.html").read_text()
    assert '<a href="#test_double_values">double: twice the input for a few numbers.</a>' in page
    assert ">Test cell</a>" not in page and "cdnjs" not in page and "MathJax.Hub" not in page
    [script] = re.findall(r'<script src="([^"]+)" async>', page)
    assert (ws / "feedback" / "bob_partial" / TOY / script).resolve().is_file()
    for cell in page.split('<div class="cell ')[1:]:
        errors = re.findall(r'output_error">\s*<pre>(.*?)</pre>', cell, re.S)
        last_lines = [html_text_of(e).strip().splitlines()[-1] for e in errors]
        assert len(last_lines) == len(set(last_lines)), last_lines
    assert "NotImplementedError" in page

    # Re-grading the same submission, even with --force, keeps the decision.
    cli(capsys, "autograde", subs, "--workspace", ws, "--source", TOY_SOURCE)
    cli(capsys, "autograde", subs, "--workspace", ws, "--source", TOY_SOURCE, "--force")
    assert manual(ws, "gina", "test_square_values") == (1.5, False)
    cli(capsys, "report", "--workspace", ws, "--out", out)
    assert scores(out / "grades.csv")["gina"] == (2.5, 3)

    # A changed submission is graded afresh: the decision no longer applies.
    set_solution(gina, "square", "def square(x):\n    return x + x")
    cli(capsys, "autograde", subs, "--workspace", ws, "--source", TOY_SOURCE)
    assert manual(ws, "gina", "test_square_values") == (None, False)
    cli(capsys, "report", "--workspace", ws, "--out", out)
    assert scores(out / "grades.csv")["gina"] == (1, 3)  # x + x passes square(2) only: the hidden check fails
    record = json.loads((ws / "reviews.json").read_text())[f"gina/{TOY}"]
    assert "decisions" not in record and record["superseded"]["test_square_values"]["score"] == 1.5
