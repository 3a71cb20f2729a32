"""`python -m grader release`: regenerate course/ from solutions/ and build the student bundle.

nbgrader's `generate_assignment` does the work (solutions replaced by `# YOUR CODE HERE`,
hidden tests removed, outputs cleared, checksums added). Its gradebook is thrown away: the
grading workspace builds its own from solutions/ when it grades (grader/autograde.py), so a
release never depends on, or changes, a workspace.

Determinism: a second run must leave `git diff` empty. nbgrader's output is already stable
(checksums hash the cell source and its nbgrader metadata); we additionally write every notebook
in nbformat's canonical JSON and give cells without an id in the source a stable id (nbformat
would otherwise invent a random one each time it reads them).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import nbformat
from nbgrader.converters import GenerateAssignment

from grader.intake import find_assignments
from grader.runner import nbgrader_config, run_converter
from grader.settings import BUNDLE_PATH, COURSE_DIR, DEFAULT_CELL_TIMEOUT, KERNEL_NAME, REPO_ROOT, SOLUTIONS_DIR, GraderError
from grader.workspace import link_dir

# What a student gets: bundle path -> repository path. Never grader/ (the hidden checks), never
# solutions/, never tests/ (they use the solutions). The bundle is a small project of its own: its
# Makefile (lab/student.mk) sets up with the same recipe as the repository (lab/course.mk), and its
# README (lab/student_README.md) is written for students.
BUNDLE_FILES = {
    "Makefile": "lab/student.mk",
    "README.md": "lab/student_README.md",
    "lab/course.mk": "lab/course.mk",
    "lab/student_nbgrader_config.py": "lab/student_nbgrader_config.py",
    "pyproject.toml": "pyproject.toml",
    "requirements.txt": "requirements.txt",
    "environment.yml": "environment.yml",
}
BUNDLE_DIRS = ["lib"]  # course/ is added from wherever it was released to
BUNDLE_PREFIX = "transformer-course"
_SKIP_NAMES = {"__pycache__", ".ipynb_checkpoints", ".DS_Store"}
_SKIP_SUFFIXES = (".pyc", ".egg-info")

PRIVATE_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def check_source_notebook(path: Path) -> dict:
    """Read a source notebook as raw JSON and check what the release relies on."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GraderError(f"{path}: not a readable notebook ({error})") from None
    kernel = raw.get("metadata", {}).get("kernelspec", {}).get("name")
    if kernel != KERNEL_NAME:
        raise GraderError(f"{path}: kernelspec name is {kernel!r}, every notebook must use {KERNEL_NAME!r}")
    return raw


def _stable_ids(released: nbformat.NotebookNode, source_raw: dict) -> None:
    """Cells keep the source's ids; a source cell without one gets `cell-<index>`."""
    source_cells = source_raw.get("cells", [])
    if len(source_cells) != len(released.cells):
        raise GraderError("generate_assignment changed the number of cells; cannot keep cell ids stable")
    taken = {cell.get("id") for cell in source_cells if cell.get("id")}
    for index, (cell, source_cell) in enumerate(zip(released.cells, source_cells)):
        cell_id = source_cell.get("id")
        if not cell_id:
            cell_id = f"cell-{index:02d}"
            while cell_id in taken:
                cell_id += "x"
            taken.add(cell_id)
        cell["id"] = cell_id


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """nbformat's canonical JSON (indent 1, sorted keys) with a final newline."""
    text = nbformat.writes(nb)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def generate(source_dir: Path, release_dir: Path, assignments: Iterable[str], db_url: str, root: Path) -> None:
    """Run nbgrader generate_assignment for `assignments` from source_dir into release_dir."""
    root.mkdir(parents=True, exist_ok=True)
    link_dir(root / "source", source_dir)
    if release_dir.resolve() != (root / "release").resolve():
        release_dir.mkdir(parents=True, exist_ok=True)
        link_dir(root / "release", release_dir)
    config = nbgrader_config(root, db_url)
    for assignment in assignments:
        result = run_converter(GenerateAssignment, config, assignment_id=assignment)
        if not result.success:
            raise GraderError(f"{source_dir / assignment}: nbgrader generate_assignment failed: {result.error}")


def release(
    assignments: list[str] | None = None,
    *,
    source_dir: Path = SOLUTIONS_DIR,
    course_dir: Path = COURSE_DIR,
    bundle_path: Path | None = BUNDLE_PATH,
    say: Callable[[str], None] = print,
) -> list[Path]:
    """Regenerate course/<A>/ for the given assignments (default: all); return the notebooks written."""
    source_dir, course_dir = Path(source_dir).resolve(), Path(course_dir).resolve()
    known = find_assignments(source_dir)
    if not known:
        raise GraderError(f"{source_dir}: no assignments (folders <A>/ holding <A>.ipynb)")
    wanted = list(assignments) if assignments else known
    for assignment in wanted:
        if assignment not in known:
            raise GraderError(f"no assignment {assignment!r} in {source_dir} (the course has: {', '.join(known)})")

    sources = {}
    for assignment in wanted:
        for path in sorted((source_dir / assignment).glob("*.ipynb")):
            sources[(assignment, path.name)] = check_source_notebook(path)

    course_dir.mkdir(parents=True, exist_ok=True)
    # A notebook released again unchanged keeps its date (the bundle shows true dates).
    before = {key: (path.read_bytes(), path.stat()) for key in sources
              if (path := course_dir / key[0] / key[1]).is_file()}
    with tempfile.TemporaryDirectory(prefix="grader-release-") as tmp:
        root = Path(tmp)
        generate(source_dir, course_dir, wanted, f"sqlite:///{root / 'gradebook.db'}", root)

    written = []
    for (assignment, name), source_raw in sources.items():
        path = course_dir / assignment / name
        nb = nbformat.read(path, as_version=4)
        _stable_ids(nb, source_raw)
        write_notebook(nb, path)
        path.chmod(0o644)
        old = before.get((assignment, name))
        if old is not None and old[0] == path.read_bytes():
            os.utime(path, ns=(old[1].st_atime_ns, old[1].st_mtime_ns))
        written.append(path)
        say(f"released {path.relative_to(course_dir.parent) if course_dir.parent in path.parents else path}")

    if not assignments:
        for stale in sorted(course_dir.iterdir()):
            if stale.is_dir() and stale.name not in known and (stale / f"{stale.name}.ipynb").exists():
                shutil.rmtree(stale)
                say(f"removed {stale} (no longer in {source_dir.name}/)")

    if bundle_path is not None:
        build_bundle(Path(bundle_path), course_dir)
        say(f"student bundle {bundle_path}")
    return written


def _bundle_members(course_dir: Path, repo_root: Path) -> list[tuple[str, Path]]:
    def walk(top: Path, arc_top: str) -> list[tuple[str, Path]]:
        found = []
        for path in sorted(top.rglob("*")):
            parts = path.relative_to(top).parts
            if any(p in _SKIP_NAMES or p.endswith(_SKIP_SUFFIXES) or p.startswith(".") for p in parts):
                continue
            if path.is_file():
                found.append((f"{arc_top}/{'/'.join(parts)}", path))
        return found

    members = []
    for arcname, name in BUNDLE_FILES.items():
        path = repo_root / name
        if not path.is_file():
            raise GraderError(f"{path}: missing, the student bundle needs it")
        members.append((arcname, path))
    for name in BUNDLE_DIRS:
        members += walk(repo_root / name, name)
    members += walk(course_dir, "course")
    return sorted(members)


def _zip_date(path: Path) -> tuple[int, int, int, int, int, int]:
    """The file's own modification time (local time, as unzip shows it), so that a student's file
    browser shows when a notebook last changed; zip cannot store dates before 1980."""
    return max(time.localtime(path.stat().st_mtime)[:6], (1980, 1, 1, 0, 0, 0))


def build_bundle(bundle_path: Path, course_dir: Path = COURSE_DIR, repo_root: Path = REPO_ROOT) -> Path:
    """Zip what a student needs into `bundle_path`, with each file's own date.

    The same files with the same dates give the same zip bytes (a release keeps the date of a
    notebook whose content it did not change)."""
    members = _bundle_members(Path(course_dir), Path(repo_root))
    for arcname, path in members:
        if path.suffix == ".ipynb":
            text = path.read_text(encoding="utf-8")
            leaked = [marker for marker in PRIVATE_MARKERS if marker in text]
            if leaked:
                raise GraderError(f"{path}: contains {leaked[0]!r}; refusing to put it in the student bundle")
    bundle_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = bundle_path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for arcname, path in members:
            info = zipfile.ZipInfo(f"{BUNDLE_PREFIX}/{arcname}", date_time=_zip_date(path))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100755 if path.stat().st_mode & 0o111 else 0o100644) << 16
            bundle.writestr(info, path.read_bytes())
    tmp.replace(bundle_path)
    return bundle_path


def unsolved_passing_tests(notebook: Path, timeout: int = DEFAULT_CELL_TIMEOUT) -> list[str]:
    """Grade ids of the test cells that pass in a released notebook, whose solutions are stubs.

    `nbgrader validate --invert` in Python: a released notebook must fail every test (an empty
    list), or a student would get points for nothing.
    """
    from nbgrader.validator import Validator

    validator = Validator(invert=True, config=nbgrader_config(cell_timeout=timeout))
    results = validator.validate(str(notebook))
    if "type_changed" in results or "changed" in results:
        raise GraderError(f"{notebook}: cells were changed or retyped since the release; release again")
    passed_sources = {cell["source"] for cell in results.get("passed", [])}
    nb = nbformat.read(notebook, as_version=4)
    return [
        cell.metadata["nbgrader"]["grade_id"]
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("grade") and cell.source.strip() in passed_sources
    ]
