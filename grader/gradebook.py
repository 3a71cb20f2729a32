"""The gradebook: the only module that knows nbgrader's database schema.

Everything else asks here: the score of a submission, every grade for the report, which
submissions exist, and `merge_submission`, which carries one graded submission from a task's
copy of the gradebook into the real one (SQLite takes one writer at a time, so each grading task
writes its own copy and the orchestrating process, the only writer of the real gradebook, merges).

The merge is schema-generic: for each row nbgrader keeps about a submission (the submission,
its notebooks, their grades and comments) it copies every column of that table except keys, so
a column a future nbgrader adds is carried too (tests/unit/test_gradebook.py fails otherwise).

What is read for the whole class (`all_grades`, `manual_grades`, `graded_submissions`) is read in
a few queries whatever the size of the class, not through each submission's relations (several
queries per submission: `python -m grader report` ran over 14 minutes at 2,000 students), and
a merge finds its rows through indexes (`GRADEBOOK_INDEXES`), so neither costs more per
submission in a larger class (tests/unit/test_gradebook_scale.py).
"""

from __future__ import annotations

import copy
import fcntl
import functools
import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import nbgrader.api
import sqlalchemy
from nbgrader.api import (Assignment, BaseCell, Grade, Gradebook, MissingEntry, Notebook, SubmittedAssignment,
                          SubmittedNotebook)
from sqlalchemy.exc import SAWarning
from sqlalchemy.pool import NullPool

from grader.settings import GraderError


def alembic_head() -> str:
    """The schema version nbgrader stamps into a new gradebook, read with alembic's Python API.

    nbgrader's own `get_alembic_version` starts the `alembic heads` command for every gradebook it
    creates (every release, workspace and test): 2.4 s of CPU to read a constant of its installed
    migration scripts, which this reads in milliseconds (the same scripts, the same answer)."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import _temp_alembic_ini

    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        return ScriptDirectory.from_config(AlembicConfig(ini)).get_current_head()


@functools.lru_cache(maxsize=16)
def _sqlite_engine(url: str, **options) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(url, poolclass=NullPool, **options)


def shared_engine(url, **options) -> sqlalchemy.Engine:
    """One SQLAlchemy engine per SQLite file for this process, where nbgrader makes one per
    Gradebook it opens (and a merge, a score, a grading run open dozens). SQLAlchemy keeps its
    compiled statements per engine: a new engine compiles every query again (in a 96-notebook
    run, ~3000 compilations in the grading command alone). No pool: every session opens the file
    anew, so a gradebook deleted and made again at the same path is read as it is now."""
    if isinstance(url, str) and url.startswith("sqlite:///"):
        return _sqlite_engine(url, **options)
    return sqlalchemy.create_engine(url, **options)


def adjust_nbgrader() -> None:
    """Make nbgrader read its schema version in this process (`alembic_head`) instead of starting
    the `alembic` command (which also needs the environment's bin/ on PATH), and share its engines
    (`shared_engine`). Called wherever a gradebook may be opened or created; not on import."""
    nbgrader.api.get_alembic_version = alembic_head
    nbgrader.api.create_engine = shared_engine


@contextmanager
def quiet_gradebook() -> Iterator[None]:
    """Silence the SQLAlchemy warnings nbgrader's gradebook code triggers about its own session
    handling: they say nothing about the grades, and an instructor cannot act on them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=SAWarning)
        yield


@contextmanager
def open_gradebook(db_url: str) -> Iterator[Gradebook]:
    adjust_nbgrader()
    with quiet_gradebook(), Gradebook(db_url) as gb:
        yield gb


@dataclass(frozen=True)
class CellGrade:
    student: str
    assignment: str
    notebook: str
    grade_id: str
    score: float
    max_score: float


@dataclass(frozen=True)
class SubmissionGrade:
    student: str
    assignment: str
    score: float
    max_score: float


def submission_score(db_url: str, assignment: str, student: str) -> tuple[float, float] | None:
    with open_gradebook(db_url) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        return float(submission.score), float(submission.max_score)


def graded_submissions(db_url: str) -> list[tuple[str, str]]:
    """(student_id, assignment) of every submission in the gradebook, sorted."""
    with open_gradebook(db_url) as gb:
        rows = gb.db.execute(sqlalchemy.select(SubmittedAssignment.student_id, Assignment.name)
                             .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id))
        return sorted((student, assignment) for student, assignment in rows)


def _every_grade(*columns, where=None) -> sqlalchemy.Select:
    """One row per grade of every submission: (student_id, assignment, notebook, grade_id, *columns),
    sorted by those four; `where` keeps only some grades."""
    query = (sqlalchemy.select(SubmittedAssignment.student_id, Assignment.name, Notebook.name, BaseCell.name, *columns)
             .select_from(Grade)
             .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
             .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
             .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
             .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
             .join(BaseCell, Grade.cell_id == BaseCell.id))
    if where is not None:
        query = query.where(where)
    return query.order_by(SubmittedAssignment.student_id, Assignment.name, Notebook.name, BaseCell.name)


def all_grades(db_url: str) -> tuple[list[SubmissionGrade], list[CellGrade]]:
    """Every submission's score and every graded cell's score, sorted by student, assignment (and
    notebook and grade id). The scores are nbgrader's own expressions (`Grade.score`,
    `Grade.max_score`, `Assignment.max_score`; a submission's score is the sum of its grades', as
    in `SubmittedAssignment.score`), read for all submissions at once (module docstring)."""
    with open_gradebook(db_url) as gb:
        run = gb.db.execute
        max_scores = dict(run(sqlalchemy.select(Assignment.id, Assignment.max_score)).all())
        scores = dict(run(sqlalchemy.select(SubmittedNotebook.assignment_id,
                                            sqlalchemy.func.coalesce(sqlalchemy.func.sum(Grade.score), 0.0))
                          .join(Grade, Grade.notebook_id == SubmittedNotebook.id)
                          .group_by(SubmittedNotebook.assignment_id)).all())
        submissions = [SubmissionGrade(student, name, float(scores.get(sid, 0.0)), float(max_scores[aid]))
                       for sid, student, name, aid in run(
                           sqlalchemy.select(SubmittedAssignment.id, SubmittedAssignment.student_id, Assignment.name,
                                             Assignment.id)
                           .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
                           .order_by(SubmittedAssignment.student_id, Assignment.name))]
        cells = [CellGrade(student, assignment, notebook, grade_id, float(score), float(max_score))
                 for student, assignment, notebook, grade_id, score, max_score
                 in run(_every_grade(Grade.score, Grade.max_score))]
    return submissions, cells


def forget_submission(db_url: str, assignment: str, student: str) -> None:
    """Remove a submission whose grading failed, so no partial grade stays in the gradebook."""
    with open_gradebook(db_url) as gb:
        try:
            gb.remove_submission(assignment, student)
        except MissingEntry:
            pass


def data_columns(row) -> list[str]:
    """Attribute names of the columns of `row`'s own table that hold data: not the primary key,
    not a foreign key (those tie the row to its parents and differ between two gradebooks), not
    a computed column_property."""
    mapper = sqlalchemy.inspect(type(row))
    names = []
    for attribute in mapper.column_attrs:
        column = attribute.columns[0]
        if (isinstance(column, sqlalchemy.Column) and column.table is mapper.local_table
                and not column.primary_key and not column.foreign_keys):
            names.append(attribute.key)
    return names


# nbgrader's tables point to their parent row (a grade to its submitted notebook, ...) but SQLite
# indexes only primary keys and unique constraints, none of which starts with these columns: every
# "the grades of this notebook" nbgrader asks (its relations, `SubmittedAssignment.score`, removing
# a submission) read the whole table, so a merge cost more the larger the class (182,000 grade
# rows at 2,000 students). The indexes change no data; nbgrader and formgrader use them as they are.
GRADEBOOK_INDEXES = {
    "ix_grader_grade_notebook_id": "grade (notebook_id)",
    "ix_grader_comment_notebook_id": "comment (notebook_id)",
    "ix_grader_submitted_notebook_assignment_id": "submitted_notebook (assignment_id)",
    "ix_grader_submitted_assignment_student_id": "submitted_assignment (student_id)",
}


def add_indexes(gb: Gradebook) -> None:
    """Create `GRADEBOOK_INDEXES` in a SQLite gradebook that lacks them (the first merge into it)."""
    if gb.engine.dialect.name == "sqlite":
        for name, columns in GRADEBOOK_INDEXES.items():
            gb.db.execute(sqlalchemy.text(f"CREATE INDEX IF NOT EXISTS {name} ON {columns}"))


def _copy_data(source, target) -> None:
    for name in data_columns(source):
        setattr(target, name, getattr(source, name))


def merge_submission(source_url: str, target_url: str, assignment: str, student: str,
                     reviews: JsonRecords | None = None) -> None:
    """Copy one graded submission from a task's gradebook into the main gradebook (module docstring),
    then keep or drop the manual grades it had (`after_regrade`; `reviews`: its workspace's reviews.json)."""
    with open_gradebook(source_url) as source, open_gradebook(target_url) as target:
        add_indexes(target)
        graded = source.find_submission(assignment, student)
        target.update_or_create_student(student)
        previous: dict[tuple[str, str], float] = {}  # the instructor's manual scores, see review.after_regrade
        try:
            earlier = target.find_submission(assignment, student)
            previous = {(nb.name, g.name): g.manual_score for nb in earlier.notebooks for g in nb.grades
                        if g.manual_score is not None}
            target.remove_submission(assignment, student)
        except MissingEntry:
            pass
        # nbgrader creates the submission with one row per notebook, grade and comment of the
        # assignment; fill them in from the graded copy, matching rows by their names.
        copy = target.add_submission(assignment, student)
        _copy_data(graded, copy)
        by_name = {nb.name: nb for nb in copy.notebooks}
        for notebook in graded.notebooks:
            into = by_name[notebook.name]
            _copy_data(notebook, into)
            for rows, into_rows in ((notebook.grades, into.grades), (notebook.comments, into.comments)):
                named = {row.name: row for row in into_rows}
                for row in rows:
                    _copy_data(row, named[row.name])
        target.db.commit()
    after_regrade(target_url, assignment, student, previous, reviews)


# ---------------------------------------------------------------------------------------------
# Manual grades: the review queue and the instructor's decisions (grader/review.py)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TestGrade:
    """One test cell of one submission, with what nbgrader keeps for manual grading."""

    student: str
    assignment: str
    notebook: str
    grade_id: str
    auto_score: float | None
    manual_score: float | None
    max_score: float
    needs_manual_grade: bool

    @property
    def score(self) -> float:
        """nbgrader's rule (Grade.score): the manual score, when there is one, overrides the automatic one."""
        if self.manual_score is not None:
            return self.manual_score
        return self.auto_score or 0.0


def _test_grade(student: str, assignment: str, notebook: str, grade_id: str, auto_score: float | None,
                manual_score: float | None, max_score: float, needs_manual_grade: bool) -> TestGrade:
    return TestGrade(student, assignment, notebook, grade_id,
                     None if auto_score is None else float(auto_score),
                     None if manual_score is None else float(manual_score),
                     float(max_score), bool(needs_manual_grade))


def manual_grades(db_url: str) -> list[TestGrade]:
    """Every test cell that needs a manual grade or has one, sorted by student, assignment, notebook
    and grade id; read in one query (module docstring)."""
    with open_gradebook(db_url) as gb:
        wanted = Grade.needs_manual_grade | Grade.manual_score.is_not(None)
        rows = gb.db.execute(_every_grade(Grade.auto_score, Grade.manual_score, Grade.max_score,
                                          Grade.needs_manual_grade, where=wanted))
        return [_test_grade(*row) for row in rows]


def submission_tests(db_url: str, assignment: str, student: str) -> list[TestGrade]:
    """Every test cell of one submission; GraderError if the gradebook has no such submission."""
    with open_gradebook(db_url) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            raise GraderError(f"no graded submission of {assignment} by {student} in the gradebook") from None
        return [_test_grade(student, assignment, nb.name, g.name, g.auto_score, g.manual_score, g.max_score,
                            g.needs_manual_grade) for nb in submission.notebooks for g in nb.grades]


def set_manual_score(db_url: str, assignment: str, student: str, notebook: str, grade_id: str,
                     score: float | None, needs_manual_grade: bool = False) -> None:
    """Write the instructor's score for one test cell (None: take the decision back), as formgrader
    does: the manual score overrides the automatic one in every total nbgrader computes."""
    with open_gradebook(db_url) as gb:
        grade = gb.find_grade(grade_id, notebook, assignment, student)
        grade.manual_score = score
        grade.needs_manual_grade = needs_manual_grade
        gb.db.commit()


def apply_roster(db_url: str, rows: list[dict[str, str]]) -> int:
    """Put every roster student (grader/roster.py) into the gradebook with their details; return how many."""
    with open_gradebook(db_url) as gb:
        for row in rows:
            details = {name: value or None for name, value in row.items() if name != "student_id"}
            gb.update_or_create_student(row["student_id"], **details)
    return len(rows)


def manual_state(db_url: str, assignment: str, student: str) -> dict[tuple[str, str], tuple[float | None, bool]]:
    """(notebook, grade_id) -> (manual_score, needs_manual_grade) of one submission ({} if none)."""
    with open_gradebook(db_url) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return {}
        return {(nb.name, g.name): (g.manual_score, bool(g.needs_manual_grade))
                for nb in submission.notebooks for g in nb.grades}


# ---------------------------------------------------------------------------------------------
# The workspace's JSON files next to the gradebook: submissions.json and reviews.json
# ---------------------------------------------------------------------------------------------
class JsonRecords:
    """A JSON object of records by key (\"student/assignment\") kept in one workspace file
    (submissions.json, reviews.json), changed a record at a time in a time that does not grow with
    the class.

    Rewriting the whole file for every graded submission made each merge cost time in proportion to
    the class (two files of 1.5 MB per merge at 2,000 students x 8 assignments). So `put` appends
    the change as one line, `[key, record]` (record null: the key is removed), to `<file>.journal`,
    and `write` puts the whole object into the file (through a temporary file and a rename, so the
    file is always whole) and removes the journal: a command writes the file when it is done, and
    a journal that a crash left behind is replayed by the next `read`. A line a crash cut short is
    skipped: that one change is lost, as a change was when a crash came before the file's rewrite.
    Every read and change holds an exclusive lock on `<file>.lock`, so two commands (autograde and
    review) never lose each other's lines.

    `get` answers from a copy in memory, which it reads again whenever the file or the journal is
    not as this object last left them (another process changed them): it is never stale.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.journal = self.path.with_name(self.path.name + ".journal")
        self.lock = self.path.with_name(self.path.name + ".lock")
        self._records: dict | None = None
        self._seen: tuple | None = None  # _files() when _records was last in step with them

    def read(self) -> dict:
        """Every record: the file with the journal replayed ({} if neither exists)."""
        with self._locked():
            return self._read()

    def get(self, key: str):
        """The record of `key` (a copy, for the caller to change), or None."""
        with self._locked():
            return copy.deepcopy(self._current().get(key))

    def put(self, key: str, record) -> None:
        """Set the record of `key` (None removes it): one line appended to the journal."""
        line = json.dumps([key, record], sort_keys=True).encode() + b"\n"
        with self._locked():
            records = self._current()
            with open(self.journal, "a+b") as out:
                end = out.seek(0, os.SEEK_END)
                if end and (out.seek(end - 1), out.read(1))[1] != b"\n":
                    line = b"\n" + line  # after a line a crash cut short, not glued to it
                out.write(line)
            _apply(records, key, copy.deepcopy(record))
            self._seen = self._files()

    def write(self, records: dict | None = None) -> None:
        """Put `records` (default: what the file and its journal hold) into the file; remove the journal."""
        with self._locked():
            records = self._read() if records is None else copy.deepcopy(records)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
            tmp.replace(self.path)
            self.journal.unlink(missing_ok=True)
            self._records, self._seen = records, self._files()

    def _current(self) -> dict:
        if self._records is None or self._seen != self._files():
            self._records, self._seen = self._read(), self._files()
        return self._records

    def _read(self) -> dict:
        try:
            records = json.loads(self.path.read_text())
        except FileNotFoundError:
            records = {}
        except json.JSONDecodeError as error:
            raise GraderError(f"{self.path}: not readable JSON ({error}); restore it or remove it") from None
        try:
            lines = self.journal.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                key, record = json.loads(line)
            except ValueError:
                continue  # cut short by a crash (class docstring)
            _apply(records, key, record)
        return records

    def _files(self) -> tuple:
        """What tells whether the file or the journal changed: a rename gives a new inode, an append a new size."""
        states = []
        for path in (self.path, self.journal):
            try:
                stat = path.stat()
            except FileNotFoundError:
                states.append(None)
                continue
            states.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
        return tuple(states)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.lock, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def _apply(records: dict, key: str, record) -> None:
    if record is None:
        records.pop(key, None)
    else:
        records[key] = record



# The review state kept next to the gradebook (grader/review.py has the queue and the decisions).
REVIEW_PREFIX = "Needs your instructor's review:"  # how a flagged test cell's error starts (lib/course_check/reading.py)
REVIEWS_FILE = "reviews.json"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def workspace_root(db_url: str) -> Path | None:
    """The workspace of a SQLite gradebook (its folder); None for another database."""
    if not db_url.startswith("sqlite:///"):
        return None
    return Path(db_url[len("sqlite:///"):]).parent


def staged_digest(root: Path, student: str, assignment: str) -> str | None:
    """A hash of the files staged in submitted/<student>/<assignment>/ (what was graded); None if
    there are none."""
    folder = root / "submitted" / student / assignment
    if not folder.is_dir():
        return None
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def review_records(root: Path) -> JsonRecords:
    """The workspace's reviews.json: per "student/assignment", the digest of the files last graded
    ("graded") and the instructor's decisions ("decisions", "superseded"; grader/review.py)."""
    return JsonRecords(root / REVIEWS_FILE)


# ---------------------------------------------------------------------------------------------
# Reasons, from the graded notebook
# ---------------------------------------------------------------------------------------------
def _output_text(output) -> str:
    if output.get("output_type") == "error":
        return _ANSI.sub("", "\n".join(output.get("traceback") or []) or f"{output.get('ename')}: {output.get('evalue')}")
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return ""


def review_reasons(notebook_path: Path) -> dict[str, str]:
    """grade_id -> the review message of each test cell whose output carries REVIEW_PREFIX."""
    try:
        nb = nbformat.read(notebook_path, as_version=4)
    except (OSError, ValueError):
        return {}
    found = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if not grade_id or cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            text = _output_text(output)
            at = text.find(REVIEW_PREFIX)
            if at >= 0:
                message = text[at + len(REVIEW_PREFIX):]
                lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
                found[grade_id] = " ".join(lines[:3])[:600]
                break
    return found


def after_regrade(db_url: str, assignment: str, student: str,
                  previous: dict[tuple[str, str], float | None], reviews: JsonRecords | None = None) -> None:
    """Called right after a submission was (re)graded into the gradebook; `previous` holds the
    manual scores it had before. Same files as when last graded: every manual score stands (and no
    longer needs a grade); other files: the manual scores are dropped, and only the cells the
    grader flagged this time need a grade (grader/review.py's docstring). The digest of the files
    graded is kept in <workspace>/reviews.json (`reviews`, which a caller merging many submissions
    passes to read it once); only SQLite gradebooks in a workspace take part."""
    root = workspace_root(db_url)
    digest = staged_digest(root, student, assignment) if root is not None else None
    if digest is None:
        return
    alone = reviews is None  # not part of a run, which writes reviews.json whole when it ends
    reviews = review_records(root) if alone else reviews
    key = f"{student}/{assignment}"
    record = reviews.get(key) or {}
    graded_before = record.get("graded")
    if graded_before == digest:
        for (notebook, grade_id), manual in previous.items():
            if manual is not None:
                set_manual_score(db_url, assignment, student, notebook, grade_id, manual, False)
    elif graded_before is not None:
        state = manual_state(db_url, assignment, student)
        flags: dict[str, dict[str, str]] = {}
        for (notebook, grade_id), (manual, _) in state.items():
            if manual is None and (notebook, grade_id) not in previous:
                continue
            if notebook not in flags:
                flags[notebook] = review_reasons(root / "autograded" / student / assignment / f"{notebook}.ipynb")
            set_manual_score(db_url, assignment, student, notebook, grade_id, None, grade_id in flags[notebook])
        if record.get("decisions"):
            record["superseded"] = record.pop("decisions")
    record["graded"] = digest
    reviews.put(key, record)
    if alone:
        reviews.write()
