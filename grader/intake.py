"""What comes in: find submissions, read zips, check ids and notebooks (`python -m grader autograde`).

Accepted layouts (both may be mixed in one SUBMISSIONS folder):

1. nbgrader's submitted layout: `SUBMISSIONS/<student_id>/<assignment>/<assignment>.ipynb`
   (a `timestamp.txt` next to the notebook is kept; other files are ignored).
2. Flat, as an LMS exports: `SUBMISSIONS/<student_id>_<assignment>.ipynb` or
   `SUBMISSIONS/<student_id>_<assignment>.zip` (the zip holds `<assignment>.ipynb`, in any
   folder). The name must *end* with `_<assignment>` for an assignment the course has; everything
   before it is the student id (`doejane_12345_67890_01_embeddings.ipynb` is student
   `doejane_12345_67890`, assignment `01_embeddings`).

Student ids are ASCII letters, digits, `_ - . @` and start with a letter or digit.
Anything else (a file elsewhere, a file that is not notebook JSON, an unknown assignment, a
student id with spaces or accents) becomes a `Failure` naming the file and the reason, and never
reaches the gradebook.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.settings import ASSIGNMENT_ID, STUDENT_ID, GraderError

LAYOUT = "<student_id>/<assignment>/<assignment>.ipynb, <student_id>_<assignment>.ipynb or <student_id>_<assignment>.zip"
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
_IGNORED_NAMES = {"__MACOSX", ".ipynb_checkpoints", "__pycache__"}


@dataclass
class Submission:
    student: str
    assignment: str
    notebooks: dict[str, bytes]  # file name in the assignment ("01_embeddings.ipynb") -> content
    origin: Path  # the file or folder it came from, for messages
    timestamp: bytes | None = None

    @property
    def key(self) -> str:
        return f"{self.student}/{self.assignment}"

    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.notebooks):
            h.update(name.encode() + b"\0" + hashlib.sha256(self.notebooks[name]).digest())
        h.update(b"timestamp\0" + (self.timestamp or b""))
        return h.hexdigest()


@dataclass
class Failure:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def find_assignments(source_dir: Path) -> list[str]:
    """Assignment ids: the folders `source_dir/<A>/` that contain `<A>.ipynb`, sorted."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise GraderError(f"{source_dir}: no such folder of source notebooks")
    return sorted(
        child.name
        for child in source_dir.iterdir()
        if child.is_dir() and ASSIGNMENT_ID.match(child.name) and (child / f"{child.name}.ipynb").is_file()
    )


def assignment_notebooks(source_dir: Path, assignment: str) -> list[str]:
    """Notebook names (without .ipynb) of one assignment, as nbgrader will grade them."""
    return sorted(p.stem for p in (Path(source_dir) / assignment).glob("*.ipynb"))


def notebook_problem(content: bytes) -> str | None:
    """Why `content` is not a gradable Jupyter notebook, or None if it is one."""
    if len(content) > MAX_NOTEBOOK_BYTES:
        return f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return "not a notebook: the file is not UTF-8 text"
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        return f"not a notebook: invalid JSON ({error.msg}, line {error.lineno} column {error.colno})"
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return "not a notebook: JSON without a list of cells"
    if raw.get("nbformat") != 4:
        return f"not a notebook in nbformat 4 (found nbformat {raw.get('nbformat')!r})"
    try:
        nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat raises several kinds; all mean "cannot read it"
        return f"not a readable notebook ({type(error).__name__}: {error})"
    return None


def student_problem(student: str) -> str | None:
    if STUDENT_ID.match(student):
        return None
    if any(c.isspace() for c in student):
        why = "contains a space"
    elif not student.isascii():
        why = "contains non-ASCII characters"
    else:
        why = "contains characters other than letters, digits, '_', '-', '.', '@'"
    return f"student id {student!r} {why}; use ASCII letters, digits, '_', '-', '.', '@'"


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in _IGNORED_NAMES


def scan(submissions_dir: Path, source_dir: Path) -> tuple[list[Submission], list[Failure]]:
    """Find the submissions under `submissions_dir`; report each thing that does not fit."""
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise GraderError(f"{submissions_dir}: no such folder of submissions")
    known = find_assignments(source_dir)
    expected = {a: [f"{nb}.ipynb" for nb in assignment_notebooks(source_dir, a)] for a in known}
    found: list[Submission] = []
    failures: list[Failure] = []

    def fail(path: Path, reason: str) -> None:
        failures.append(Failure(str(path), reason))

    def unknown(assignment: str) -> str:
        return f"the course has no assignment {assignment!r} (it has: {', '.join(known)})"

    def check_notebooks(sub: Submission, where: dict[str, Path]) -> Submission | None:
        for name, content in sub.notebooks.items():
            problem = notebook_problem(content)
            if problem:
                fail(where[name], problem)
                return None
        return sub

    for entry in sorted(submissions_dir.iterdir()):
        if _hidden(entry.name):
            continue
        if entry.is_dir():  # nbgrader layout: <student>/<assignment>/<notebook>.ipynb
            problem = student_problem(entry.name)
            if problem:
                fail(entry, problem)
                continue
            for sub_entry in sorted(entry.iterdir()):
                if _hidden(sub_entry.name):
                    continue
                if not sub_entry.is_dir():
                    fail(sub_entry, f"not where a submission goes; expected {LAYOUT}")
                    continue
                assignment = sub_entry.name
                if assignment not in expected:
                    fail(sub_entry, unknown(assignment))
                    continue
                notebooks = {name: sub_entry / name for name in expected[assignment] if (sub_entry / name).is_file()}
                if not notebooks:
                    present = sorted(p.name for p in sub_entry.glob("*.ipynb"))
                    hint = f" (found: {', '.join(present)})" if present else ""
                    fail(sub_entry, f"no {' or '.join(expected[assignment])} in this folder{hint}")
                    continue
                timestamp = sub_entry / "timestamp.txt"
                sub = Submission(
                    entry.name,
                    assignment,
                    {name: path.read_bytes() for name, path in notebooks.items()},
                    sub_entry,
                    timestamp.read_bytes() if timestamp.is_file() else None,
                )
                if check_notebooks(sub, notebooks):
                    found.append(sub)
        elif entry.suffix in (".ipynb", ".zip"):  # flat layout: <student>_<assignment>.<ext>
            matches = [a for a in known if entry.stem.endswith("_" + a) and len(entry.stem) > len(a) + 1]
            if not matches:
                fail(entry, f"name does not end in _<assignment> for an assignment of the course "
                            f"({', '.join(known)}); expected {LAYOUT}")
                continue
            assignment = max(matches, key=len)
            student = entry.stem[: -len(assignment) - 1]
            problem = student_problem(student)
            if problem:
                fail(entry, problem)
                continue
            if entry.suffix == ".ipynb":
                if expected[assignment] != [f"{assignment}.ipynb"]:
                    fail(entry, f"{assignment} has several notebooks ({', '.join(expected[assignment])}); submit a zip")
                    continue
                sub = Submission(student, assignment, {f"{assignment}.ipynb": entry.read_bytes()}, entry)
                if check_notebooks(sub, {f"{assignment}.ipynb": entry}):
                    found.append(sub)
            else:
                notebooks, problem = _read_zip(entry, expected[assignment])
                if problem:
                    fail(entry, problem)
                    continue
                sub = Submission(student, assignment, notebooks, entry)
                if check_notebooks(sub, {name: entry for name in notebooks}):
                    found.append(sub)
        else:
            fail(entry, f"not a notebook, a zip or a student folder; expected {LAYOUT}")

    unique: dict[str, Submission] = {}
    for sub in found:
        if sub.key in unique:
            fail(sub.origin, f"a second submission of {sub.assignment} by {sub.student} "
                             f"(the first is {unique[sub.key].origin})")
        else:
            unique[sub.key] = sub
    return list(unique.values()), failures


def _read_zip(path: Path, wanted: list[str]) -> tuple[dict[str, bytes], str | None]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [
                info for info in archive.infolist()
                if not info.is_dir()
                and not any(_hidden(part) for part in info.filename.split("/"))
                and info.filename.rsplit("/", 1)[-1] in wanted
            ]
            notebooks: dict[str, bytes] = {}
            for info in members:
                name = info.filename.rsplit("/", 1)[-1]
                if name in notebooks:
                    return {}, f"holds more than one {name}"
                if info.file_size > MAX_NOTEBOOK_BYTES:
                    return {}, f"{info.filename} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
                notebooks[name] = archive.read(info)
    except (zipfile.BadZipFile, OSError) as error:
        return {}, f"not a readable zip file ({error})"
    if not notebooks:
        return {}, f"the zip holds no {' or '.join(wanted)}"
    return notebooks, None


def without_duplicate_ids(content: bytes) -> bytes:
    """The notebook with each nbgrader grade id on one cell only (the last, as nbgrader's own
    DeduplicateIds keeps); earlier copies become plain cells, which still run.

    nbgrader 0.9.6's DeduplicateIds leaves `"nbgrader": {}` on the copies, and then
    OverwriteCells fails with `KeyError: 'grade_id'`, dropping the whole submission. Notebooks
    without duplicates are returned byte for byte.
    """
    nb = nbformat.reads(content.decode("utf-8"), as_version=4)
    seen: set[str] = set()
    changed = False
    for cell in reversed(nb.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is None:
            continue
        if grade_id in seen:
            del cell.metadata["nbgrader"]
            changed = True
        seen.add(grade_id)
    return nbformat.writes(nb).encode("utf-8") if changed else content
