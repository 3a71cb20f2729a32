"""`python -m grader sample-class OUT`: a small class of submissions to try the pipeline on.

For each assignment it writes, in nbgrader's submitted layout `OUT/<student>/<A>/<A>.ipynb`:

| student         | submission                                                  | expected grade |
|-----------------|-------------------------------------------------------------|----------------|
| `alice_correct` | the released notebook with every solution filled in         | full marks     |
| `bob_partial`   | the same, but the last exercise left as released            | in between     |
| `carol_blank`   | the released notebook, untouched                            | 0              |
| `dave_broken`   | a truncated file that is not JSON                           | reported, not graded |
| `erin_warnings` | full solutions that also emit a `UserWarning` on every call | full marks (warnings on stderr do not cost points) |

The notebooks are built from solutions/ (through a fresh nbgrader release into a temporary
folder), so the sample class always matches the current course and nothing big is committed.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import nbformat

from grader.intake import find_assignments
from grader.settings import SOLUTIONS_DIR, GraderError
from grader.release import release, write_notebook

STUDENTS = {
    "alice_correct": "full marks",
    "bob_partial": "between 0 and full marks",
    "carol_blank": "0",
    "dave_broken": "reported as not a notebook",
    "erin_warnings": "full marks",
}

_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
WARNING_LINE = 'import warnings; warnings.warn("a harmless warning from a correct solution", stacklevel=1)'


def _is_solution(cell) -> bool:
    return cell.get("metadata", {}).get("nbgrader", {}).get("solution", False)


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def without_markers(source: str, *, warn: bool = False) -> str:
    """A solution cell's text as a student would write it: the marker lines removed.

    With `warn`, the first line of the solution also emits a UserWarning, indented like it.
    """
    lines = source.splitlines()
    out = []
    for index, line in enumerate(lines):
        if line.strip() == _MARKERS[0]:
            if warn:
                body = next((l for l in lines[index + 1 :] if l.strip()), line)
                out.append(body[: len(body) - len(body.lstrip())] + WARNING_LINE)
            continue
        if line.strip() == _MARKERS[1]:
            continue
        out.append(line)
    return "\n".join(out)


def solved(released: nbformat.NotebookNode, source: nbformat.NotebookNode, *, warn: bool = False,
           leave_blank: set[str] = frozenset()) -> nbformat.NotebookNode:
    """The released notebook with the solution cells filled from the source (except `leave_blank`)."""
    solutions = {_grade_id(cell): cell.source for cell in source.cells if _is_solution(cell)}
    nb = copy.deepcopy(released)
    for cell in nb.cells:
        grade_id = _grade_id(cell)
        if _is_solution(cell) and grade_id in solutions and grade_id not in leave_blank:
            cell.source = without_markers(solutions[grade_id], warn=warn)
    return nb


def build_sample_class(
    out_dir: Path,
    assignments: list[str] | None = None,
    *,
    source_dir: Path = SOLUTIONS_DIR,
    say: Callable[[str], None] = print,
) -> list[Path]:
    """Write the sample submissions into out_dir (replacing earlier ones); return their paths."""
    source_dir, out_dir = Path(source_dir).resolve(), Path(out_dir)
    known = find_assignments(source_dir)
    wanted = list(assignments) if assignments else known
    for assignment in wanted:
        if assignment not in known:
            raise GraderError(f"no assignment {assignment!r} in {source_dir} (the course has: {', '.join(known)})")
    written = []
    with tempfile.TemporaryDirectory(prefix="grader-sample-") as tmp:
        course = Path(tmp) / "course"
        release(wanted, source_dir=source_dir, course_dir=course, bundle_path=None, say=lambda _: None)
        for assignment in wanted:
            name = f"{assignment}.ipynb"
            released = nbformat.read(course / assignment / name, as_version=4)
            source = nbformat.read(source_dir / assignment / name, as_version=4)
            exercises = [_grade_id(cell) for cell in source.cells if _is_solution(cell)]
            if not exercises:
                raise GraderError(f"{source_dir / assignment / name}: no solution cells to build a sample class from")
            versions = {
                "alice_correct": solved(released, source),
                "bob_partial": solved(released, source, leave_blank={exercises[-1]}),
                "carol_blank": released,
                "erin_warnings": solved(released, source, warn=True),
            }
            for student, nb in versions.items():
                path = out_dir / student / assignment / name
                path.parent.mkdir(parents=True, exist_ok=True)
                write_notebook(nb, path)
                written.append(path)
            broken = out_dir / "dave_broken" / assignment / name
            broken.parent.mkdir(parents=True, exist_ok=True)
            broken.write_text(nbformat.writes(released)[:200])  # cut off mid-file: not JSON
            written.append(broken)
            say(f"{assignment}: {', '.join(sorted(STUDENTS))} in {out_dir}")
    return written


def reset(out_dir: Path) -> None:
    """Remove the sample students from out_dir (other folders stay)."""
    for student in STUDENTS:
        shutil.rmtree(Path(out_dir) / student, ignore_errors=True)
