"""The gradebook: the only module that knows nbgrader's database schema.

Everything else asks here: the score of a submission, every grade for the report, which
submissions exist, and `merge_submission`, which carries one graded submission from a task's
copy of the gradebook into the real one (SQLite takes one writer at a time, so each grading task
writes its own copy and the orchestrating process, the only writer of the real gradebook, merges).

The merge is schema-generic: for each row nbgrader keeps about a submission (the submission,
its notebooks, their grades and comments) it copies every column of that table except keys, so
a column a future nbgrader adds is carried too (tests/unit/test_gradebook.py fails otherwise).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import nbgrader.api
import sqlalchemy
from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SAWarning
from sqlalchemy.pool import NullPool


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
        return sorted(
            (submission.student.id, assignment.name)
            for assignment in gb.assignments
            for submission in assignment.submissions
        )


def all_grades(db_url: str) -> tuple[list[SubmissionGrade], list[CellGrade]]:
    """Every submission's score and every graded cell's score, in the gradebook's order."""
    submissions, cells = [], []
    with open_gradebook(db_url) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                student = submission.student.id
                submissions.append(
                    SubmissionGrade(student, assignment.name, float(submission.score), float(submission.max_score))
                )
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        cells.append(CellGrade(student, assignment.name, notebook.name, grade.name,
                                               float(grade.score), float(grade.max_score)))
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


def _copy_data(source, target) -> None:
    for name in data_columns(source):
        setattr(target, name, getattr(source, name))


def merge_submission(source_url: str, target_url: str, assignment: str, student: str) -> None:
    """Copy one graded submission from a task's gradebook into the main gradebook (module docstring)."""
    with open_gradebook(source_url) as source, open_gradebook(target_url) as target:
        graded = source.find_submission(assignment, student)
        target.update_or_create_student(student)
        try:
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
