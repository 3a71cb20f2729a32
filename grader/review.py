"""The review queue: exercises the grader could not verify, and the instructor's decisions on them.

The contract with the verdicts (grader/boundary/): an exercise the grader cannot verify from the
submitted text scores 0, its test cells get nbgrader's `needs_manual_grade = True` in the
gradebook, and the error output of each such test cell in the graded notebook starts with
`REVIEW_PREFIX` followed by the reason and the line. This module

- lists the queue (`queue`): every test cell that needs a manual grade, with the reason read from
  the graded notebook, and every decision already taken;
- records a decision (`decide`, `python -m grader review`): nbgrader's `manual_score`, which
  overrides the automatic score in every total nbgrader computes (`Grade.score`), so grades.csv,
  formgrader and feedback all use it; `needs_manual_grade` is cleared, as formgrader does;
- keeps decisions across re-grading (`gradebook.after_regrade`, called by `merge_submission`):
  a decision stands while the submission is the one it was taken on (the same staged files), and
  is dropped when the student submitted something else. Formgrader's manual grades are treated the
  same way. The digest of the graded files is kept per submission in `<workspace>/reviews.json`,
  with a log of the decisions taken here.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader import gradebook
from grader.gradebook import review_reasons, review_records, staged_digest
from grader.settings import GraderError


def exercise_of(grade_id: str, exercises: list[str]) -> str:
    """The exercise a test cell grades (`test_<exercise>_<aspect>`), the longest that fits."""
    fitting = [e for e in exercises if grade_id == f"test_{e}" or grade_id.startswith(f"test_{e}_")]
    return max(fitting, key=len) if fitting else grade_id


def exercises_of(root: Path, assignment: str, notebook: str) -> list[str]:
    path = root / "release" / assignment / f"{notebook}.ipynb"
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return []
    return [cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and cell.metadata["nbgrader"].get("grade_id")]


# ---------------------------------------------------------------------------------------------
# The queue
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReviewItem:
    student: str
    assignment: str
    notebook: str
    exercise: str
    grade_id: str
    reason: str
    auto_score: float | None
    manual_score: float | None  # the instructor's decision; None while pending
    max_score: float

    @property
    def pending(self) -> bool:
        return self.manual_score is None


def queue(workspace) -> list[ReviewItem]:
    """Every test cell that needs a manual grade (pending) or got one (decided), sorted by student,
    assignment and the cell's name."""
    if not workspace.gradebook.exists():
        raise GraderError(f"{workspace.gradebook}: no gradebook; run `python -m grader autograde` first")
    root = workspace.root
    reasons: dict[tuple[str, str, str], dict[str, str]] = {}
    exercises: dict[tuple[str, str], list[str]] = {}
    items = []
    for g in gradebook.manual_grades(workspace.db_url):
        key = (g.student, g.assignment, g.notebook)
        if key not in reasons:
            reasons[key] = review_reasons(root / "autograded" / g.student / g.assignment / f"{g.notebook}.ipynb")
        if (g.assignment, g.notebook) not in exercises:
            exercises[(g.assignment, g.notebook)] = exercises_of(root, g.assignment, g.notebook)
        reason = reasons[key].get(g.grade_id) or (
            "nbgrader could not score this cell" if g.auto_score is None else "marked for manual grading")
        items.append(ReviewItem(g.student, g.assignment, g.notebook,
                                exercise_of(g.grade_id, exercises[(g.assignment, g.notebook)]), g.grade_id,
                                reason, g.auto_score, g.manual_score, g.max_score))
    return sorted(items, key=lambda i: (i.student, i.assignment, i.notebook, i.grade_id))


# ---------------------------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    notebook: str
    grade_id: str
    score: float | None
    max_score: float


def decide(workspace, student: str, assignment: str, item: str, *, accept: bool = False,
           score: float | None = None, reset: bool = False) -> list[Decision]:
    """Record the instructor's decision on `item` (a test cell's grade_id, or an exercise: its test
    cells in the queue, or all of them if none is) of one submission: `accept` gives each cell its full points, `score` sets the points
    of one cell, `reset` takes the decision back (the automatic score counts again and the cell
    returns to the queue if it was flagged)."""
    if sum((accept, score is not None, reset)) != 1:
        raise GraderError("say one of --accept, --score POINTS or --reset")
    if not workspace.gradebook.exists():
        raise GraderError(f"{workspace.gradebook}: no gradebook; run `python -m grader autograde` first")
    tests = gradebook.submission_tests(workspace.db_url, assignment, student)
    chosen = [t for t in tests if t.grade_id == item]
    if not chosen:
        notebooks = {t.notebook for t in tests}
        exercises = [e for nb in notebooks for e in exercises_of(workspace.root, assignment, nb)]
        chosen = [t for t in tests if exercise_of(t.grade_id, exercises) == item]
        in_queue = [t for t in chosen if t.needs_manual_grade or t.manual_score is not None]
        chosen = in_queue or chosen  # an exercise: its cells in the queue, or all of them if none is
    if not chosen:
        names = ", ".join(sorted(t.grade_id for t in tests))
        raise GraderError(f"{assignment} has no test cell or exercise {item!r}; its test cells: {names}")
    if score is not None:
        if len(chosen) > 1:
            raise GraderError(f"{item} has {len(chosen)} test cells ({', '.join(t.grade_id for t in chosen)}): "
                              "--score sets one cell's points; name the cell, or use --accept for full points")
        if not 0 <= score <= chosen[0].max_score:
            raise GraderError(f"--score must be between 0 and {chosen[0].max_score:g} "
                              f"(the points of {chosen[0].grade_id}), got {score:g}")
    root = workspace.root
    flagged = review_reasons(root / "autograded" / student / assignment / f"{chosen[0].notebook}.ipynb")
    decisions = []
    for t in chosen:
        value = None if reset else (t.max_score if accept else float(score))
        needs = reset and (t.grade_id in flagged or t.auto_score is None)
        gradebook.set_manual_score(workspace.db_url, assignment, student, t.notebook, t.grade_id, value, needs)
        decisions.append(Decision(t.notebook, t.grade_id, value, t.max_score))
    reviews = review_records(root)
    key = f"{student}/{assignment}"
    record = reviews.get(key) or {}
    record.setdefault("graded", staged_digest(root, student, assignment))
    log = record.setdefault("decisions", {})
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    for d in decisions:
        if d.score is None:
            log.pop(d.grade_id, None)
        else:
            log[d.grade_id] = {"score": d.score, "max_score": d.max_score, "at": now}
    reviews.put(key, record)
    reviews.write()
    return decisions
