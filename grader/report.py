"""`python -m grader report --out OUT`: grades out of the gradebook, as CSV and as a page to read.

- `OUT/grades.csv`: `student_id,assignment,score,max_score`, one row per graded submission;
- `OUT/cells.csv`: `student_id,assignment,notebook,grade_id,score,max_score`, one row per test cell;
- `OUT/lms.csv`: one row per student, one column per assignment and the total, with a "Points
  Possible" row, the wide layout learning-management systems import (grades.csv is the long one);
- `OUT/summary.html`: contents at the top; a sortable table of students (scores, total, links to
  each feedback page); the review queue (grader/review.py: what the grader could not verify, with
  the reason and the decision taken); per assignment the score distribution, **which named mistakes
  the class made and how often** per exercise (read from the failure messages of the graded
  notebooks: the checks' own diagnosis, "It looks like you did not divide by sqrt(d_k)"), and the
  pass rate of every test (a test "passes" when it got all its points), in notebook order. Figures
  are PNGs embedded in the page and sorting is a few lines of inline script: the page needs no
  other file and no network.

Rows are sorted by student, assignment, and the test's position in the notebook; scores are
written the short way (`3`, `2.5`).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import nbformat
from grader.gradebook import REVIEW_PREFIX, CellGrade, SubmissionGrade, all_grades
from grader.review import ReviewItem, exercise_of, exercises_of, queue
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


# ---------------------------------------------------------------------------------------------
# What went wrong: the named mistakes, read from the graded notebooks' failure messages
# ---------------------------------------------------------------------------------------------
_NAMED = re.compile(r"[Ii]t looks like (.+?)\.(?:\s|$)", re.S)
_NUMBERS = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
NOT_WRITTEN = "not written yet (still raises NotImplementedError)"
FLAGGED = "flagged for your review"
DELEGATED = "hands the exercise to a ready-made implementation"


def mistake_of(message: str) -> str:
    """The mistake a failure message names ("did not divide the scores by sqrt(d_k)"), or a short
    class of failure when it names none."""
    if REVIEW_PREFIX in message:
        return FLAGGED
    named = _NAMED.search(message)
    if named:
        return " ".join(named.group(1).split())
    if "NotImplementedError" in message:
        return NOT_WRITTEN
    if "which does this exercise for you" in message:
        return DELEGATED
    first = message.strip().split(". ")[0].split("\n")[0]
    return "other: " + _NUMBERS.sub("#", first)[:140]


def failure_messages(workspace: Workspace, student: str, assignment: str, notebook: str) -> dict[str, str]:
    """grade_id -> the error message of each failed test cell of one graded notebook.

    Read as the JSON nbgrader wrote (notebook format 4): nbformat's schema validation took 16 of
    every 17 ms, and the report reads a notebook per submission that lost points (4,800 at 2,000
    students). A notebook of another format version goes through nbformat, which converts it."""
    path = workspace.step("autograded") / student / assignment / f"{notebook}.ipynb"
    try:
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        if nb.get("nbformat") != 4:
            nb = nbformat.reads(text, as_version=4)
    except (OSError, ValueError, AttributeError):
        return {}
    found = {}
    for cell in nb.get("cells", []):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if grade_id and errors:
            found[grade_id] = f"{errors[-1].get('ename', '')}: {errors[-1].get('evalue', '')}"
    return found


@dataclass
class ExerciseMistakes:
    assignment: str
    exercise: str
    submissions: int
    mistakes: Counter  # mistake -> number of submissions that made it in this exercise's tests


def class_mistakes(workspace: Workspace, cells: list[CellGrade]) -> list[ExerciseMistakes]:
    """Per exercise (in notebook order), how many submissions made each named mistake."""
    exercises: dict[tuple[str, str], list[str]] = {}
    messages: dict[tuple[str, str, str], dict[str, str]] = {}
    per_exercise: dict[tuple[str, str], dict[str, set[str]]] = {}
    submissions: dict[tuple[str, str], set[str]] = defaultdict(set)
    for c in cells:
        if (c.assignment, c.notebook) not in exercises:
            exercises[(c.assignment, c.notebook)] = exercises_of(workspace.root, c.assignment, c.notebook)
        exercise = exercise_of(c.grade_id, exercises[(c.assignment, c.notebook)])
        key = (c.assignment, exercise)
        submissions[key].add(c.student)
        by_mistake = per_exercise.setdefault(key, {})
        if c.score >= c.max_score:
            continue
        if (c.student, c.assignment, c.notebook) not in messages:
            messages[(c.student, c.assignment, c.notebook)] = failure_messages(workspace, c.student, c.assignment, c.notebook)
        message = messages[(c.student, c.assignment, c.notebook)].get(c.grade_id)
        mistake = mistake_of(message) if message else "lost points without an error (see the feedback)"
        by_mistake.setdefault(mistake, set()).add(c.student)
    return [ExerciseMistakes(a, e, len(submissions[(a, e)]), Counter({m: len(s) for m, s in found.items()}))
            for (a, e), found in per_exercise.items()]


# ---------------------------------------------------------------------------------------------
# summary.html
# ---------------------------------------------------------------------------------------------
STYLE = """body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.4}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}
td.num{text-align:right}.low{background:#f8d7da}img{max-width:100%}
table.sortable th{cursor:pointer;background:#f0f0f0}table.sortable th:after{content:" \\2195";color:#999}
nav ol{columns:2}.wide{overflow-x:auto}#students-table{font-size:.9em}.muted{color:#666}.pending{background:#fff3cd}"""

# Sorting without any file or network: a click on a header sorts its table by that column
# (numbers as numbers, a second click reverses). No data depends on it: the page reads the same without.
SORT_SCRIPT = """<script>
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var dir = th.dataset.dir === "asc" ? -1 : 1; th.dataset.dir = dir === 1 ? "asc" : "desc";
      function key(row) { var t = row.cells[col].dataset.sort || row.cells[col].textContent.trim();
        var n = parseFloat(t); return isNaN(n) ? t.toLowerCase() : n; }
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        return (typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1)) * dir; });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
</script>"""


def _feedback_links(workspace: Workspace, out: Path, student: str, assignments: list[str]) -> str:
    """Links to a student's feedback pages, each named by its notebook's number ("01")."""
    links = []
    for assignment in assignments:
        for page in sorted((workspace.step("feedback") / student / assignment).glob("*.html")):
            href = html.escape(Path(os.path.relpath(page, out)).as_posix())
            label = html.escape(page.stem.split("_")[0])
            links.append(f'<a href="{href}" title="{html.escape(page.stem)}">{label}</a>')
    return " ".join(links)


def _students_table(workspace: Workspace, out: Path, submissions: list[SubmissionGrade]) -> list[str]:
    esc = html.escape
    assignments = sorted({s.assignment for s in submissions})
    by = {(s.student, s.assignment): s for s in submissions}
    maxima = {a: max(s.max_score for s in submissions if s.assignment == a) for a in assignments}
    total_max = sum(maxima.values())
    rows = ['<div class="wide"><table class="sortable" id="students-table"><thead><tr><th>student_id</th>'
            + "".join(f"<th>{esc(a).replace('_', '_<wbr>')}<br>/{number(maxima[a])}</th>" for a in assignments)
            + f"<th>total (/{number(total_max)})</th><th>%</th><th>feedback pages</th></tr></thead><tbody>"]
    for student in sorted({s.student for s in submissions}):
        cells, total = [], 0.0
        for a in assignments:
            s = by.get((student, a))
            if s is None:
                cells.append('<td class=num data-sort="-1">-</td>')
                continue
            total += s.score
            cells.append(f"<td class=num>{number(s.score)}</td>")
        percent = 100 * total / total_max if total_max else 0.0
        links = _feedback_links(workspace, out, student, assignments)
        rows.append(f"<tr><td>{esc(student)}</td>{''.join(cells)}<td class=num>{number(total)}</td>"
                    f"<td class=num>{percent:.0f}</td><td>{links or '-'}</td></tr>")
    rows.append("</tbody></table></div>")
    return rows


def _queue_section(items: list[ReviewItem]) -> list[str]:
    esc = html.escape
    pending = [i for i in items if i.pending]
    parts = [f"<p>{len(pending)} test cell(s) to review, {len(items) - len(pending)} decided. The grader could not "
             "verify these exercises from the submitted text, so they score 0 until you decide. Read the code "
             "(the feedback page, or formgrader), then accept it or give points: "
             "<code>python -m grader review STUDENT ASSIGNMENT EXERCISE --accept</code> (or <code>--score POINTS</code> "
             "for one test cell). A decision overrides the automatic score everywhere and stands until the student "
             "submits a changed notebook.</p>"]
    if not items:
        return parts
    parts.append('<table class="sortable" id="review-queue"><thead><tr><th>student_id</th><th>assignment</th>'
                 "<th>exercise</th><th>test cell</th><th>reason</th><th>decision</th></tr></thead><tbody>")
    for i in items:
        decision = "to review" if i.pending else f"{number(i.manual_score)}/{number(i.max_score)}"
        cls = ' class="pending"' if i.pending else ""
        parts.append(f"<tr{cls}><td>{esc(i.student)}</td><td>{esc(i.assignment)}</td><td>{esc(i.exercise)}</td>"
                     f"<td>{esc(i.grade_id)}</td><td>{esc(i.reason)}</td><td>{decision}</td></tr>")
    parts.append("</tbody></table>")
    return parts


def _mistakes_table(found: list[ExerciseMistakes]) -> list[str]:
    esc = html.escape
    rows = []
    for ex in found:
        if not ex.mistakes:
            continue
        for mistake, n in ex.mistakes.most_common():
            rows.append(f"<tr><td>{esc(ex.exercise)}</td><td class=num>{100 * n / ex.submissions:.0f}%</td>"
                        f"<td class=num>{n}/{ex.submissions}</td><td>{esc(mistake)}</td></tr>")
    if not rows:
        return ["<p>No test failed.</p>"]
    return ["<table><tr><th>exercise</th><th>share</th><th>submissions</th><th>mistake (in the checks' words)</th></tr>",
            *rows, "</table>"]


def summary_html(submissions: list[SubmissionGrade], cells: list[CellGrade], *, workspace: Workspace | None = None,
                 out: Path | None = None, queue_items: list[ReviewItem] = (),
                 mistakes: list[ExerciseMistakes] = ()) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_assignment = defaultdict(list)
    for s in submissions:
        by_assignment[s.assignment].append(s)
    tests_by_assignment: dict[str, dict[tuple[str, str], list[CellGrade]]] = defaultdict(dict)
    for c in cells:  # already in notebook order
        tests_by_assignment[c.assignment].setdefault((c.notebook, c.grade_id), []).append(c)
    mistakes_by_assignment = defaultdict(list)
    for m in mistakes:
        mistakes_by_assignment[m.assignment].append(m)
    pending = sum(i.pending for i in queue_items)

    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Grade summary</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>Grade summary</h1>",
        f"<p>{len({s.student for s in submissions})} students, {len(submissions)} graded submissions"
        f"{f', <b>{pending} test cell(s) waiting for your review</b>' if pending else ''}. "
        "Files: <a href=grades.csv>grades.csv</a> (student_id, assignment, score, max_score: the grades to import "
        "into a learning-management system), <a href=lms.csv>lms.csv</a> (one row per student, one column per "
        "assignment), <a href=cells.csv>cells.csv</a> (every test cell).</p>",
        '<nav><h2 id="contents">Contents</h2><ol>',
        '<li><a href="#students">Students</a> (sortable: click a column)</li>',
        f'<li><a href="#review">Review queue</a> ({pending} to review)</li>',
    ]
    parts += [f'<li><a href="#{esc(a)}">{esc(a)}</a>: scores, pass rate per test, mistakes the class made</li>'
              for a in sorted(by_assignment)]
    parts.append("</ol></nav>")
    parts.append('<h2 id="students">Students</h2>')
    if workspace is not None and out is not None:
        parts += _students_table(workspace, out, submissions)
        if not any(workspace.step("feedback").glob("*/*/*.html")):
            parts.append('<p class="muted">No feedback pages yet: <code>python -m grader feedback</code> writes them, '
                         "and this table links them when the report is written again.</p>")
    parts.append('<h2 id="review">Review queue</h2>')
    parts += _queue_section(list(queue_items))
    for assignment in sorted(by_assignment):
        subs = by_assignment[assignment]
        scores = [s.score for s in subs]
        max_score = max(s.max_score for s in subs)
        parts.append(f'<h2 id="{esc(assignment)}">{esc(assignment)}</h2>')
        parts.append(
            f"<p>{len(subs)} submissions; mean {statistics.mean(scores):.2f}, median "
            f"{number(statistics.median(scores))} out of {number(max_score)}; "
            f"{sum(s == max_score for s in scores)} with full marks, {sum(s == 0 for s in scores)} with 0.</p>"
        )
        parts.append(f'<img alt="score distribution of {esc(assignment)}" '
                     f'src="data:image/png;base64,{_distribution_figure(plt, scores, max_score, assignment)}">')
        parts.append(f"<h3>What the class got wrong in {esc(assignment)}</h3>"
                     "<p>Per exercise, the share of submissions whose tests named each mistake (one submission "
                     "can make several): what to teach again.</p>")
        parts += _mistakes_table(mistakes_by_assignment.get(assignment, []))
        tests = tests_by_assignment[assignment]
        rates = [(grade_id, sum(c.score >= c.max_score for c in cs) / len(cs)) for (_, grade_id), cs in tests.items()]
        if rates:
            parts.append(f"<h3>Pass rate per test in {esc(assignment)}</h3>")
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
        parts.append('<p><a href="#contents">back to the contents</a></p>')
    parts.append(SORT_SCRIPT)
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_lms_csv(path: Path, submissions: list[SubmissionGrade]) -> None:
    """One row per student, one column per assignment (a missing submission is empty), then the
    total; the second row holds the points possible, as LMS gradebook imports expect."""
    assignments = sorted({s.assignment for s in submissions})
    maxima = {a: max(s.max_score for s in submissions if s.assignment == a) for a in assignments}
    by = {(s.student, s.assignment): s.score for s in submissions}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["student_id", *assignments, "total"])
        writer.writerow(["Points Possible", *(number(maxima[a]) for a in assignments), number(sum(maxima.values()))])
        for student in sorted({s.student for s in submissions}):
            scores = [by.get((student, a)) for a in assignments]
            writer.writerow([student, *("" if x is None else number(x) for x in scores),
                             number(sum(x for x in scores if x is not None))])


def report(workspace: Workspace, out: Path) -> tuple[list[SubmissionGrade], list[CellGrade]]:
    """Write grades.csv, cells.csv, lms.csv and summary.html into `out`; return what was written."""
    submissions, cells = collect(workspace)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    write_csvs(out, submissions, cells)
    write_lms_csv(out / "lms.csv", submissions)
    page = summary_html(submissions, cells, workspace=workspace, out=out, queue_items=queue(workspace),
                        mistakes=class_mistakes(workspace, cells))
    (out / "summary.html").write_text(page, encoding="utf-8")
    return submissions, cells
