"""What a merge and the report cost must not grow with the class (issue #29: a merge took 68 ms at
100 students and 248 ms at 2,000; the report ran over 14 minutes at 2,000).

No timing here: a merge runs no query that reads a whole table of the class (SQLite's own query
plan says so), a whole-class read runs as many queries for three students as for one, and
recording an outcome appends to the workspace's JSON files' journals instead of rewriting them.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy

from grader import gradebook
from grader.autograde import AutogradeResult, Recorder, RunOptions
from grader.execution import Outcome, Task
from grader.gradebook import (JsonRecords, all_grades, graded_submissions, manual_grades, merge_submission,
                              open_gradebook)
from grader.intake import Submission
from grader.release import generate
from grader.settings import GradingLimits
from grader.workspace import Workspace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SOLUTIONS = FIXTURES / "solutions"
TOY = "00_toy"
NOTEBOOK = SOLUTIONS / TOY / f"{TOY}.ipynb"
# The tables with a row per student or more.
CLASS_TABLES = {"student", "submitted_assignment", "submitted_notebook", "grade", "comment"}


def new_gradebook(root: Path) -> str:
    url = f"sqlite:///{root / 'gradebook.db'}"
    generate(SOLUTIONS, root / "release", [TOY], url, root)
    return url


def graded_task(root: Path, student: str, points: float) -> str:
    """A task's gradebook holding one graded submission of `student` (each test at `points` x its maximum)."""
    url = new_gradebook(root)
    with open_gradebook(url) as gb:
        gb.add_student(student)
        for notebook in gb.add_submission(TOY, student).notebooks:
            for grade in notebook.grades:
                grade.auto_score = points * grade.max_score
                grade.needs_manual_grade = points == 0.5
        gb.db.commit()
    return url


def class_of(tmp_path: Path, students: int) -> str:
    """A workspace gradebook with `students` graded submissions, merged as a run merges them."""
    main = new_gradebook(tmp_path / "main")
    for i in range(students):
        merge_submission(graded_task(tmp_path / f"task{i}", f"s{i}", (0.0, 0.5, 1.0)[i % 3]), main, TOY, f"s{i}")
    return main


@contextmanager
def statements() -> list[tuple[str, object]]:
    """Every SQL statement (with its parameters) run in this process inside the block."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters[0] if executemany else parameters))

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", record)


def whole_table_reads(db: Path, run: list[tuple[str, object]]) -> list[str]:
    """The statements of `run` that SQLite would answer by reading a whole table of the class."""
    found = []
    with sqlite3.connect(db) as connection:
        for statement, parameters in run:
            if not statement.lstrip().upper().startswith(("SELECT", "DELETE", "UPDATE")):
                continue
            plan = connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters or ()).fetchall()
            scans = [row[-1] for row in plan if row[-1].startswith("SCAN ") and row[-1].split()[1] in CLASS_TABLES]
            found += [f"{scan}: {' '.join(statement.split())[:200]}" for scan in scans]
    return found


def test_a_merge_reads_no_whole_table_of_the_class(tmp_path):
    """Each query of a merge (and of reading its score back) finds its rows through an index, so a
    merge costs the same in a class of 100 or of 2,000: nbgrader's tables have no index on the
    columns that point to a parent row (gradebook.GRADEBOOK_INDEXES)."""
    main = class_of(tmp_path, 3)
    task = graded_task(tmp_path / "task-new", "new", 1.0)
    with statements() as run:
        merge_submission(task, main, TOY, "new")
        assert gradebook.submission_score(main, TOY, "new") == (3.0, 3.0)
    main_run = [(s, p) for s, p in run if "alembic" not in s]
    assert main_run and whole_table_reads(tmp_path / "main" / "gradebook.db", main_run) == []


def test_merging_again_replaces_the_submission_without_reading_the_class(tmp_path):
    main = class_of(tmp_path, 3)
    with statements() as run:
        merge_submission(graded_task(tmp_path / "again", "s1", 1.0), main, TOY, "s1")
    assert whole_table_reads(tmp_path / "main" / "gradebook.db", run) == []
    assert gradebook.submission_score(main, TOY, "s1") == (3.0, 3.0)


def by_objects(url: str):
    """What nbgrader's own objects say, one relation at a time (the independent answer)."""
    submissions, cells, manual = [], [], []
    with open_gradebook(url) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                submissions.append((sub.student.id, assignment.name, float(sub.score), float(sub.max_score)))
                for nb in sub.notebooks:
                    for g in nb.grades:
                        cells.append((sub.student.id, assignment.name, nb.name, g.name, float(g.score),
                                      float(g.max_score)))
                        if g.needs_manual_grade or g.manual_score is not None:
                            manual.append((sub.student.id, nb.name, g.name, g.auto_score, g.manual_score,
                                           float(g.max_score), bool(g.needs_manual_grade)))
    return sorted(submissions), sorted(cells), sorted(manual)


def test_the_whole_class_is_read_in_queries_that_do_not_grow_with_it(tmp_path):
    counts = {}
    for size in (1, 3):
        main = class_of(tmp_path / f"class{size}", size)
        gradebook.set_manual_score(main, TOY, "s0", TOY, "test_square_values", 1.5)
        with statements() as run:
            submissions, cells = all_grades(main)
            manual = manual_grades(main)
            listed = graded_submissions(main)
        counts[size] = len(run)
        expected_submissions, expected_cells, expected_manual = by_objects(main)
        assert [(s.student, s.assignment, s.score, s.max_score) for s in submissions] == expected_submissions
        assert [(c.student, c.assignment, c.notebook, c.grade_id, c.score, c.max_score)
                for c in cells] == expected_cells
        assert [(m.student, m.notebook, m.grade_id, m.auto_score, m.manual_score, m.max_score, m.needs_manual_grade)
                for m in manual] == expected_manual
        assert listed == [(s, a) for s, a, _, _ in expected_submissions]
        assert len(manual) == 1 + 2 * (size > 1)  # s0's decision; s1's two tests flagged (0.5 points)
    assert counts[1] == counts[3]


# ---------------------------------------------------------------------------------------------
# JsonRecords: submissions.json and reviews.json, changed a record at a time
# ---------------------------------------------------------------------------------------------
def test_a_change_is_appended_and_the_file_is_written_whole_when_asked(tmp_path):
    path = tmp_path / "records.json"
    records = JsonRecords(path)
    records.write({"a/x": {"graded": "1"}, "b/x": {"graded": "2"}})
    before = path.read_bytes(), path.stat().st_ino
    records.put("c/x", {"graded": "3"})
    records.put("a/x", None)
    assert (path.read_bytes(), path.stat().st_ino) == before  # the file is not rewritten
    assert len(records.journal.read_text().splitlines()) == 2
    assert JsonRecords(path).read() == {"b/x": {"graded": "2"}, "c/x": {"graded": "3"}}
    records.write()
    assert not records.journal.exists()
    assert json.loads(path.read_text()) == {"b/x": {"graded": "2"}, "c/x": {"graded": "3"}}


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_next_one_kept(tmp_path):
    path = tmp_path / "records.json"
    JsonRecords(path).put("a/x", "1")
    with open(path.with_name("records.json.journal"), "a") as journal:
        journal.write('["b/x", "tor')  # the process died in the middle of a write
    JsonRecords(path).put("c/x", "3")
    assert JsonRecords(path).read() == {"a/x": "1", "c/x": "3"}


def test_get_sees_what_another_process_changed(tmp_path):
    path = tmp_path / "records.json"
    mine, theirs = JsonRecords(path), JsonRecords(path)
    mine.put("a/x", {"decisions": {}})
    assert mine.get("a/x") == {"decisions": {}}
    theirs.put("a/x", {"decisions": {"t": 1}})
    assert mine.get("a/x") == {"decisions": {"t": 1}}
    theirs.write({"b/x": {}})  # a rewrite: a new file, no journal
    assert mine.get("a/x") is None and mine.get("b/x") == {}
    got = mine.get("b/x")
    got["changed"] = True  # a copy: changing it changes nothing stored
    assert mine.get("b/x") == {}


def test_recording_an_outcome_appends_to_the_workspace_files_and_the_last_one_writes_them(tmp_path):
    """A run's Recorder does not rewrite submissions.json or reviews.json per submission (they grow
    with the class); they are whole again after its last outcome."""
    workspace = Workspace.at(tmp_path / "ws")
    workspace.prepare(SOLUTIONS)
    new_gradebook(workspace.root)
    workspace.save_hashes({"old/00_toy": "0" * 64})
    gradebook.review_records(workspace.root).write({"old/00_toy": {"graded": "0" * 64}})
    content = NOTEBOOK.read_bytes()
    todo = [Submission(s, TOY, {f"{TOY}.ipynb": content}, tmp_path / s) for s in ("ada", "bob")]
    for sub in todo:
        workspace.stage(sub)
    options = RunOptions(SOLUTIONS, GradingLimits(), 1, None, False, None, None, lambda _: None)
    record = Recorder(todo, workspace, workspace.load_hashes(), options, AutogradeResult())
    files = {path: path.read_bytes() for path in (workspace.hashes, workspace.root / "reviews.json")}

    for i, sub in enumerate(todo):
        task = Task(sub.student, TOY, str(workspace.root), str(workspace.gradebook), "", 0, 0.0, {})
        record(task, Outcome(True, "", 1.0, graded_task(tmp_path / f"task{i}", sub.student, 1.0)))
        if i == 0:
            assert {path: path.read_bytes() for path in files} == files
            assert "ada/00_toy" in workspace.load_hashes()
            assert "ada/00_toy" in gradebook.review_records(workspace.root).read()

    keys = ["ada/00_toy", "bob/00_toy", "old/00_toy"]
    assert sorted(json.loads(workspace.hashes.read_text())) == keys
    assert sorted(json.loads((workspace.root / "reviews.json").read_text())) == keys
    assert not list(workspace.root.glob("*.journal"))
