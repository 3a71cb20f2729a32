"""`python -m grader autograde SUBMISSIONS`: grade submissions with nbgrader into the workspace.

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
student id with spaces or accents) is reported by name at the end and never reaches the
gradebook; every other submission is graded.

Steps: scan and check the input; skip submissions whose content hash is unchanged since they
were last graded (unless --force); bring the workspace gradebook in line with solutions/
(nbgrader generate_assignment, which stores the hidden tests that autograde puts back); copy
each submission into workspace/submitted/; run nbgrader's Autograde converter on it.

`--workers N` runs N grading processes. SQLite takes one writer at a time, so each worker grades
into its own copy of the gradebook and the main process, the only writer of the real gradebook,
merges each finished submission into it (`merge_submission`).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import sys
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde

from grader.config import (
    DEFAULT_CELL_TIMEOUT,
    SOLUTIONS_DIR,
    STUDENT_ID,
    GraderError,
    Workspace,
    assignment_notebooks,
    find_assignments,
    nbgrader_config,
)
from grader.release import generate
from grader.runner import environment, kernel_environment, quiet_gradebook, run_converter

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


@dataclass
class Graded:
    student: str
    assignment: str
    score: float
    max_score: float
    seconds: float = 0.0
    unchanged: bool = False


@dataclass
class AutogradeResult:
    graded: list[Graded] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Reading the input
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# Grading
# ---------------------------------------------------------------------------------------------
def stage(submission: Submission, workspace: Workspace) -> None:
    """Copy a submission into workspace/submitted/<student>/<assignment>/ (nbgrader's layout)."""
    folder = workspace.step("submitted") / submission.student / submission.assignment
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, content in submission.notebooks.items():
        (folder / name).write_bytes(content)
    if submission.timestamp is not None:
        (folder / "timestamp.txt").write_bytes(submission.timestamp)


def submission_score(db_url: str, assignment: str, student: str) -> tuple[float, float] | None:
    with quiet_gradebook(), Gradebook(db_url) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        return float(submission.score), float(submission.max_score)


def forget_submission(db_url: str, assignment: str, student: str) -> None:
    """Remove a submission whose grading failed, so no partial grade stays in the gradebook."""
    with quiet_gradebook(), Gradebook(db_url) as gb:
        try:
            gb.remove_submission(assignment, student)
        except MissingEntry:
            pass


def merge_submission(source_url: str, target_url: str, assignment: str, student: str) -> None:
    """Copy one graded submission from a worker's gradebook into the main gradebook."""
    with quiet_gradebook(), Gradebook(source_url) as source, Gradebook(target_url) as target:
        graded = source.find_submission(assignment, student)
        target.update_or_create_student(student)
        try:
            target.remove_submission(assignment, student)
        except MissingEntry:
            pass
        copy = target.add_submission(assignment, student, timestamp=graded.timestamp, extension=graded.extension)
        by_name = {nb.name: nb for nb in copy.notebooks}
        for notebook in graded.notebooks:
            into = by_name[notebook.name]
            into.flagged = notebook.flagged
            into.late_submission_penalty = notebook.late_submission_penalty
            grades = {grade.name: grade for grade in into.grades}
            for grade in notebook.grades:
                g = grades[grade.name]
                g.auto_score, g.manual_score = grade.auto_score, grade.manual_score
                g.extra_credit, g.needs_manual_grade = grade.extra_credit, grade.needs_manual_grade
            comments = {comment.name: comment for comment in into.comments}
            for comment in notebook.comments:
                c = comments[comment.name]
                c.auto_comment, c.manual_comment = comment.auto_comment, comment.manual_comment
        target.db.commit()


_WORKER: dict = {}


def _worker_start(databases, root: str, timeout: int) -> None:
    _WORKER["db_url"] = f"sqlite:///{databases.get()}"
    _WORKER["config"] = nbgrader_config(Path(root), _WORKER["db_url"], timeout=timeout)


def _worker_grade(student: str, assignment: str) -> tuple[bool, str, float, str]:
    start = time.monotonic()
    result = run_converter(Autograde, _WORKER["config"], assignment_id=assignment, student_id=student)
    return result.success, result.error, time.monotonic() - start, _WORKER["db_url"]


def _eta(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def autograde(
    submissions_dir: Path,
    workspace: Workspace,
    *,
    source_dir: Path = SOLUTIONS_DIR,
    workers: int = 1,
    timeout: int = DEFAULT_CELL_TIMEOUT,
    force: bool = False,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> AutogradeResult:
    """Grade every submission under `submissions_dir` into `workspace` (see the module docstring)."""
    if workers < 1:
        raise GraderError(f"--workers must be at least 1, got {workers}")
    if timeout < 1:
        raise GraderError(f"--timeout must be at least 1 second, got {timeout}")
    source_dir = Path(source_dir).resolve()
    submissions, failures = scan(Path(submissions_dir), source_dir)
    result = AutogradeResult(failures=failures)
    workspace.prepare(source_dir)
    hashes = workspace.load_hashes()
    db_url = workspace.db_url

    todo: list[Submission] = []
    for sub in submissions:
        if not force and hashes.get(sub.key) == sub.digest():
            score = submission_score(db_url, sub.assignment, sub.student) if workspace.gradebook.exists() else None
            if score is not None and (workspace.step("autograded") / sub.student / sub.assignment).is_dir():
                result.graded.append(Graded(sub.student, sub.assignment, *score, unchanged=True))
                continue
        todo.append(sub)
    if not todo:
        progress(f"nothing to grade: {len(result.graded)} submission(s) unchanged since they were graded")
        return result

    # The gradebook learns each assignment (cells, points, hidden tests) from solutions/.
    for assignment in sorted({sub.assignment for sub in todo}):
        try:
            generate(source_dir, workspace.step("release"), [assignment], db_url, workspace.root)
        except GraderError as error:
            for sub in [s for s in todo if s.assignment == assignment]:
                result.failures.append(Failure(str(sub.origin), f"not graded: {error}"))
            todo = [s for s in todo if s.assignment != assignment]
    for sub in todo:
        stage(sub, workspace)

    start, done = time.monotonic(), 0
    total = len(todo)

    def finish(sub: Submission, success: bool, error: str, seconds: float, worker_db: str | None) -> None:
        nonlocal done
        done += 1
        if success and worker_db is not None:
            try:
                merge_submission(worker_db, db_url, sub.assignment, sub.student)
            except Exception as problem:  # keep grading the others; this one is listed as failed
                success, error = False, f"could not merge the worker's grades into the gradebook: {problem!r}"
        score = submission_score(db_url, sub.assignment, sub.student) if success else None
        if score is None:
            forget_submission(db_url, sub.assignment, sub.student)
            hashes.pop(sub.key, None)
            result.failures.append(Failure(str(sub.origin), error or "nbgrader recorded no grade"))
            outcome = "FAILED"
        else:
            hashes[sub.key] = sub.digest()
            result.graded.append(Graded(sub.student, sub.assignment, *score, seconds=seconds))
            outcome = f"{score[0]:g}/{score[1]:g}"
        workspace.save_hashes(hashes)
        elapsed = time.monotonic() - start
        eta = elapsed / done * (total - done)
        progress(f"[{done}/{total}] {sub.key}: {outcome} ({seconds:.1f} s)  elapsed {_eta(elapsed)}, ETA {_eta(eta)}")

    progress(f"grading {total} submission(s) with {min(workers, total)} worker(s), "
             f"{timeout} s per cell; {len(result.graded)} unchanged")
    with environment(**kernel_environment(workspace.ipython_dir)):
        if workers == 1 or total == 1:
            config = nbgrader_config(workspace.root, db_url, timeout=timeout)
            for sub in todo:
                t0 = time.monotonic()
                run = run_converter(Autograde, config, assignment_id=sub.assignment, student_id=sub.student)
                finish(sub, run.success, run.error, time.monotonic() - t0, None)
        else:
            _grade_in_pool(todo, workspace, min(workers, total), timeout, finish)
    return result


def _grade_in_pool(todo: list[Submission], workspace: Workspace, workers: int, timeout: int, finish) -> None:
    """Grade with `workers` processes, each into its own copy of the gradebook (module docstring)."""
    context = multiprocessing.get_context("spawn")
    folder = workspace.workers_dir
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    databases = context.Queue()
    for index in range(workers):
        copy = folder / f"gradebook-{index}.db"
        shutil.copyfile(workspace.gradebook, copy)
        databases.put(str(copy))
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_worker_start,
        initargs=(databases, str(workspace.root), timeout),
    ) as pool:
        futures = {pool.submit(_worker_grade, sub.student, sub.assignment): sub for sub in todo}
        for future in as_completed(futures):
            sub = futures[future]
            try:
                success, error, seconds, worker_db = future.result()
            except Exception as crash:  # the worker process itself died (e.g. killed for memory)
                success, error, seconds, worker_db = False, f"the grading process failed: {crash!r}", 0.0, None
            finish(sub, success, error, seconds, worker_db)
    shutil.rmtree(folder, ignore_errors=True)
