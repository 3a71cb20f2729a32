"""`gradebook.merge_submission` carries every column nbgrader keeps about a submission.

The merge copies columns generically. This test fills every data column of every row of one
submission (the submission, its notebooks, grades and comments) with a value that differs from
the one a fresh submission gets, merges it into another gradebook and compares column by column.
A column the merge drops fails the test; so does a column nbgrader adds in an upgrade that this
test does not give a distinct value (then extend `distinct`).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from grader.gradebook import merge_submission, open_gradebook, submission_score
from grader.release import generate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOY = "00_toy"


def distinct(name: str, value):
    """A value for column `name` unlike `value` (what a fresh submission holds)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, datetime.datetime) or name == "timestamp":
        return datetime.datetime(2031, 2, 3, 4, 5, 6)
    if name == "extension":
        return datetime.timedelta(hours=3)
    if name.endswith("score") or name in ("extra_credit", "late_submission_penalty"):
        return 0.25 + (value or 0) + 0.5
    if name.endswith("comment"):
        return f"{value or ''} distinct comment"
    if name == "needs_manual_grade" or name == "flagged":
        return not value
    raise AssertionError(f"nbgrader has a column {name!r} (value {value!r}) this test does not know: "
                         "give it a distinct value in `distinct`")


def columns(row) -> list[str]:
    """Every column of the row's table except its keys, read from the table itself (not from
    grader.gradebook, so a column the merge code overlooks is still compared)."""
    return [c.name for c in type(row).__table__.columns if not c.primary_key and not c.foreign_keys]


def rows(submission):
    """Every row of one submission, each keyed by a name that is the same in any gradebook."""
    found = {("submission",): submission}
    for notebook in submission.notebooks:
        found[("notebook", notebook.name)] = notebook
        found |= {("grade", notebook.name, g.name): g for g in notebook.grades}
        found |= {("comment", notebook.name, c.name): c for c in notebook.comments}
    return found


@pytest.fixture
def two_gradebooks(tmp_path):
    urls = []
    for name in ("task", "main"):
        root = tmp_path / name
        url = f"sqlite:///{root / 'gradebook.db'}"
        generate(FIXTURES / "solutions", root / "release", [TOY], url, root)
        urls.append(url)
    return urls


def test_merge_carries_every_column(two_gradebooks):
    task, main = two_gradebooks
    expected = {}
    with open_gradebook(task) as gb:
        gb.add_student("ada")
        graded = gb.add_submission(TOY, "ada")
        for key, row in rows(graded).items():
            for column in columns(row):
                setattr(row, column, distinct(column, getattr(row, column)))
                expected[key + (column,)] = getattr(row, column)
        gb.db.commit()
    assert {key[0] for key in expected} == {"submission", "notebook", "grade", "comment"}

    merge_submission(task, main, TOY, "ada")

    with open_gradebook(main) as gb:
        merged = rows(gb.find_submission(TOY, "ada"))
        got = {key + (column,): getattr(row, column) for key, row in merged.items() for column in columns(row)}
    assert got == expected


def test_merge_replaces_an_older_grade(two_gradebooks):
    task, main = two_gradebooks
    for url, points in ((main, 0.0), (task, 1.0)):
        with open_gradebook(url) as gb:
            gb.add_student("ada")
            for grade in rows(gb.add_submission(TOY, "ada")).values():
                if hasattr(grade, "auto_score") and grade.max_score:
                    grade.auto_score = points * grade.max_score
            gb.db.commit()
    assert submission_score(main, TOY, "ada") == (0.0, 3.0)
    merge_submission(task, main, TOY, "ada")
    assert submission_score(main, TOY, "ada") == (3.0, 3.0)


def test_a_new_gradebook_gets_the_schema_version_alembic_names(tmp_path, monkeypatch):
    """`alembic_head` (read in-process) is what nbgrader's own `alembic heads` command prints, and a
    gradebook created through us is stamped with it (nbgrader's upgrade path relies on the stamp)."""
    import os
    import subprocess
    import sys

    import sqlalchemy
    from nbgrader.dbutil import _temp_alembic_ini

    from grader.gradebook import alembic_head

    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
        printed = subprocess.run(["alembic", "-c", ini, "heads"], capture_output=True, text=True, check=True, env=env)
    assert alembic_head() == printed.stdout.split()[0]

    monkeypatch.setenv("PATH", "")  # no `alembic` command to find: the stamp must come from this process
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with open_gradebook(url):
        pass
    with sqlalchemy.create_engine(url).connect() as db:
        assert db.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar() == alembic_head()


def test_gradebooks_of_one_file_share_an_engine_and_see_it_remade(two_gradebooks, tmp_path):
    """Opening the same gradebook twice reuses one engine (SQLAlchemy compiles each query once per
    engine), yet a gradebook deleted and made again at the same path is read as it is now."""
    task, main = two_gradebooks
    with open_gradebook(main) as first, open_gradebook(main) as second:
        assert first.engine is second.engine
        first.add_student("ada")
        first.db.commit()
    assert submission_score(main, TOY, "ada") is None
    with open_gradebook(main) as gb:
        assert [s.id for s in gb.students] == ["ada"]

    Path(main.removeprefix("sqlite:///")).unlink()
    generate(FIXTURES / "solutions", tmp_path / "main" / "release", [TOY], main, tmp_path / "main")
    with open_gradebook(main) as gb:
        assert [s.id for s in gb.students] == []
