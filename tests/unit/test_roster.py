"""`--roster`: a class list read with clear errors, its names written into a real gradebook."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.gradebook import apply_roster, open_gradebook
from grader.roster import read_roster
from grader.settings import GraderError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "students.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_roster_names_reach_the_gradebook(tmp_path):
    rows = read_roster(write(tmp_path, "student_id,first_name,last_name,email\n"
                                       "alice,Alice,Archer,alice@example.org\nzoe,Zoë,Zimmer,\n"))
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with open_gradebook(url) as gb:
        gb.update_or_create_student("carol")  # graded, not on the roster: keeps an id only
    assert apply_roster(url, rows) == 2
    with open_gradebook(url) as gb:
        found = {s.id: (s.first_name, s.last_name, s.email) for s in gb.students}
    assert found == {"alice": ("Alice", "Archer", "alice@example.org"), "zoe": ("Zoë", "Zimmer", None),
                     "carol": (None, None, None)}


@pytest.mark.parametrize("text, says", [
    ("id,name\nalice,Alice\n", "student_id among them"),
    ("student_id,nickname\nalice,Al\n", "unknown column(s) nickname"),
    ("student_id\nalice\nJosé Ñ\n", "line 3: 'José Ñ' is not a student id"),
    ("student_id\nalice\nalice\n", "line 3: alice is on the roster twice"),
])
def test_bad_rosters_are_refused_with_the_line(tmp_path, text, says):
    with pytest.raises(GraderError, match=None) as error:
        read_roster(write(tmp_path, text))
    assert says in str(error.value)


def test_missing_roster(tmp_path):
    with pytest.raises(GraderError, match="no such roster file"):
        read_roster(tmp_path / "nope.csv")
