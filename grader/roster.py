"""A class roster: student ids with names, for the gradebook (formgrader shows the names).

`--roster students.csv` on `python -m grader autograde`: a CSV file with a header row and the
column `student_id` (required), and any of `first_name`, `last_name`, `email`, `lms_user_id`
(an LMS export's columns can be renamed to these). Every student of the roster is put into the
gradebook with those details, whether or not they have submitted anything yet; a student who
submitted but is not on the roster keeps an id only.
"""

from __future__ import annotations

import csv
from pathlib import Path

from grader.settings import STUDENT_ID, GraderError

COLUMNS = ("student_id", "first_name", "last_name", "email", "lms_user_id")


def read_roster(path: Path) -> list[dict[str, str]]:
    """The roster's rows, each with the columns of COLUMNS that the file has; GraderError, naming the
    line, for anything that does not fit."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [name.strip() for name in reader.fieldnames or []]
            if "student_id" not in header:
                raise GraderError(f"{path}: the first line must name the columns, with student_id among them "
                                  f"(and any of {', '.join(COLUMNS[1:])}); found {header or 'nothing'}")
            unknown = [name for name in header if name not in COLUMNS]
            if unknown:
                raise GraderError(f"{path}: unknown column(s) {', '.join(unknown)}; the roster may have "
                                  f"{', '.join(COLUMNS)}")
            rows, seen = [], set()
            for line, row in enumerate(reader, start=2):
                row = {name.strip(): (value or "").strip() for name, value in row.items() if name}
                student = row.get("student_id", "")
                if not STUDENT_ID.match(student):
                    raise GraderError(f"{path}, line {line}: {student!r} is not a student id (ASCII letters, "
                                      "digits, _ - . @)")
                if student in seen:
                    raise GraderError(f"{path}, line {line}: {student} is on the roster twice")
                seen.add(student)
                rows.append({name: value for name, value in row.items() if name in COLUMNS})
            return rows
    except FileNotFoundError:
        raise GraderError(f"{path}: no such roster file") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise GraderError(f"{path}: not a readable CSV file ({error})") from None
