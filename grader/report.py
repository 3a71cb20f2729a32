"""`python -m grader report --out OUT`: grades out of the gradebook, as CSV and as a page to read.

- `OUT/grades.csv`: `student_id,assignment,score,max_score`, one row per graded submission;
- `OUT/cells.csv`: `student_id,assignment,notebook,grade_id,score,max_score`, one row per test cell;
- `OUT/summary.html`: per assignment, the score distribution and the pass rate of every test
  (a test "passes" when it got all its points), in notebook order, so the concept the class
  missed stands out. Figures are PNGs embedded in the page; the page has no other files.

Rows are sorted by student, assignment, and the test's position in the notebook; scores are
written the short way (`3`, `2.5`).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import statistics
from collections import defaultdict
from pathlib import Path

import nbformat
from grader.gradebook import CellGrade, SubmissionGrade, all_grades
from grader.settings import GraderError
from grader.workspace import Workspace

GRADES_HEADER = ["student_id", "assignment", "score", "max_score"]
CELLS_HEADER = ["student_id", "assignment", "notebook", "grade_id", "score", "max_score"]


def number(x: float) -> str:
    return f"{x:g}"


def _cell_order(workspace: Workspace, assignment: str, notebook: str) -> dict[str, int]:
    """Position of each grade id in the notebook (from the workspace's copy of the release)."""
    path = workspace.step("release") / assignment / f"{notebook}.ipynb"
    if not path.exists():
        return {}
    nb = nbformat.read(path, as_version=4)
    ids = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells]
    return {grade_id: index for index, grade_id in enumerate(ids) if grade_id}


def collect(workspace: Workspace) -> tuple[list[SubmissionGrade], list[CellGrade]]:
    if not workspace.gradebook.exists():
        raise GraderError(f"{workspace.gradebook}: no gradebook; run `python -m grader autograde` first")
    submissions, cells = all_grades(workspace.db_url)
    submissions.sort(key=lambda s: (s.student, s.assignment))

    def cell_key(c: CellGrade):
        order = orders_by_notebook.get((c.assignment, c.notebook), {})
        return (c.student, c.assignment, c.notebook, order.get(c.grade_id, len(order)), c.grade_id)

    orders_by_notebook = {
        (a, nb): _cell_order(workspace, a, nb) for a, nb in {(c.assignment, c.notebook) for c in cells}
    }
    cells.sort(key=cell_key)
    return submissions, cells


def write_csvs(out: Path, submissions: list[SubmissionGrade], cells: list[CellGrade]) -> None:
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(GRADES_HEADER)
        for s in submissions:
            writer.writerow([s.student, s.assignment, number(s.score), number(s.max_score)])
    with open(out / "cells.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CELLS_HEADER)
        for c in cells:
            writer.writerow([c.student, c.assignment, c.notebook, c.grade_id, number(c.score), number(c.max_score)])


def grade_table(submissions: list[SubmissionGrade]) -> str:
    """Students down, assignments across, `score/max` in each cell; `-` when not submitted."""
    assignments = sorted({s.assignment for s in submissions})
    students = sorted({s.student for s in submissions})
    scores = {(s.student, s.assignment): f"{number(s.score)}/{number(s.max_score)}" for s in submissions}
    rows = [["student_id", *assignments]] + [
        [student, *(scores.get((student, a), "-") for a in assignments)] for student in students
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# summary.html
# ---------------------------------------------------------------------------------------------
def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _distribution_figure(plt, scores: list[float], max_score: float, assignment: str) -> str:
    fig, ax = plt.subplots(figsize=(6, 2.8))
    values = sorted(set(scores) | {0.0, max_score})
    counts = [scores.count(v) for v in values]
    ax.bar([number(v) for v in values], counts, color="#4C72B0")
    ax.set(title=f"{assignment}: score distribution ({len(scores)} submissions)",
           xlabel=f"score (out of {number(max_score)})", ylabel="students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    png = _png(fig)
    plt.close(fig)
    return png


def _pass_rate_figure(plt, tests: list[tuple[str, float]], assignment: str) -> str:
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(tests) + 1.2))
    names = [name for name, _ in tests][::-1]
    rates = [100 * rate for _, rate in tests][::-1]
    colors = ["#C44E52" if r < 50 else "#DD8452" if r < 80 else "#55A868" for r in rates]
    ax.barh(names, rates, color=colors)
    ax.set(xlim=(0, 100), xlabel="% of submissions with full points", title=f"{assignment}: pass rate per test")
    for y, rate in enumerate(rates):
        ax.text(min(rate + 1, 88), y, f"{rate:.0f}%", va="center", fontsize=8)
    png = _png(fig)
    plt.close(fig)
    return png


def summary_html(submissions: list[SubmissionGrade], cells: list[CellGrade]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_assignment = defaultdict(list)
    for s in submissions:
        by_assignment[s.assignment].append(s)
    tests_by_assignment: dict[str, dict[tuple[str, str], list[CellGrade]]] = defaultdict(dict)
    for c in cells:  # already in notebook order
        tests_by_assignment[c.assignment].setdefault((c.notebook, c.grade_id), []).append(c)

    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Grade summary</title>',
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
        "td.num{text-align:right}.low{background:#f8d7da}img{max-width:100%}</style></head><body>",
        "<h1>Grade summary</h1>",
        f"<p>{len({s.student for s in submissions})} students, {len(submissions)} graded submissions. "
        "A test passes when it got all its points. Tests passed by fewer than half of the class are "
        "highlighted: that is the concept to revisit.</p>",
    ]
    for assignment in sorted(by_assignment):
        subs = by_assignment[assignment]
        scores = [s.score for s in subs]
        max_score = max(s.max_score for s in subs)
        parts.append(f"<h2>{esc(assignment)}</h2>")
        parts.append(
            f"<p>{len(subs)} submissions; mean {statistics.mean(scores):.2f}, median "
            f"{number(statistics.median(scores))} out of {number(max_score)}; "
            f"{sum(s == max_score for s in scores)} with full marks, {sum(s == 0 for s in scores)} with 0.</p>"
        )
        parts.append(f'<img alt="score distribution of {esc(assignment)}" '
                     f'src="data:image/png;base64,{_distribution_figure(plt, scores, max_score, assignment)}">')
        tests = tests_by_assignment[assignment]
        rates = [(grade_id, sum(c.score >= c.max_score for c in cs) / len(cs)) for (_, grade_id), cs in tests.items()]
        if rates:
            parts.append(f'<img alt="pass rate per test of {esc(assignment)}" '
                         f'src="data:image/png;base64,{_pass_rate_figure(plt, rates, assignment)}">')
            parts.append("<table><tr><th>notebook</th><th>test (grade_id)</th><th>points</th>"
                         "<th>passed</th><th>mean points</th></tr>")
            for (notebook, grade_id), cs in tests.items():
                passed = sum(c.score >= c.max_score for c in cs)
                low = ' class="low"' if passed < len(cs) / 2 else ""
                parts.append(
                    f"<tr{low}><td>{esc(notebook)}</td><td>{esc(grade_id)}</td><td class=num>{number(cs[0].max_score)}</td>"
                    f"<td class=num>{passed}/{len(cs)} ({100 * passed / len(cs):.0f}%)</td>"
                    f"<td class=num>{statistics.mean(c.score for c in cs):.2f}</td></tr>"
                )
            parts.append("</table>")
    parts.append("<h2>All grades</h2><table><tr><th>student_id</th><th>assignment</th><th>score</th><th>max_score</th></tr>")
    for s in submissions:
        parts.append(f"<tr><td>{esc(s.student)}</td><td>{esc(s.assignment)}</td>"
                     f"<td class=num>{number(s.score)}</td><td class=num>{number(s.max_score)}</td></tr>")
    parts.append("</table></body></html>\n")
    return "\n".join(parts)


def report(workspace: Workspace, out: Path) -> tuple[list[SubmissionGrade], list[CellGrade]]:
    """Write grades.csv, cells.csv and summary.html into `out`; return what was written."""
    submissions, cells = collect(workspace)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_csvs(out, submissions, cells)
    (out / "summary.html").write_text(summary_html(submissions, cells), encoding="utf-8")
    return submissions, cells
