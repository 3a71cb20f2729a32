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

Grading always happens in worker processes (`--workers N`, default 1). SQLite takes one writer at
a time, so each worker grades into its own copy of the gradebook and the main process, the only
writer of the real gradebook, merges each finished submission into it (`merge_submission`).
A worker that exceeds `--notebook-timeout` on one submission, or dies, is killed together with its
kernel and replaced by a fresh worker on a fresh gradebook copy; that submission is reported as
failed with the reason, and the others are unaffected. A failed submission leaves nothing in the
gradebook or in autograded/, and is tried again on the next run.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.connection
import shutil
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde

from grader.config import (
    DEFAULT_CELL_TIMEOUT,
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_NOTEBOOK_TIMEOUT,
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


def stage(submission: Submission, workspace: Workspace) -> None:
    """Copy a submission into workspace/submitted/<student>/<assignment>/ (nbgrader's layout)."""
    folder = workspace.step("submitted") / submission.student / submission.assignment
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, content in submission.notebooks.items():
        (folder / name).write_bytes(without_duplicate_ids(content))
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


# ---------------------------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------------------------
def _worker_main(conn, root: str, timeout: int) -> None:
    """A grading process: the first message names its gradebook copy (it starts, and imports
    nbgrader, while the main process is still preparing the gradebook); then it grades
    (student, assignment) requests into that copy."""
    try:
        db_path = conn.recv()
    except (EOFError, KeyboardInterrupt):
        return
    if db_path is None:
        return
    db_url = f"sqlite:///{db_path}"
    config = nbgrader_config(Path(root), db_url, timeout=timeout)
    while True:
        try:
            task = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if task is None:
            return
        student, assignment = task
        start = time.monotonic()
        result = run_converter(Autograde, config, assignment_id=assignment, student_id=student)
        conn.send((result.success, result.error, time.monotonic() - start, db_url))


class _Worker:
    """One grading process with its own copy of the gradebook; killed with its kernels on demand."""

    def __init__(self, context, name: str, workspace: Workspace, timeout: int):
        self.name = name
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child, str(workspace.root), timeout),
            name=f"grader-worker-{name}", daemon=True,
        )
        self.process.start()
        child.close()
        self.task: Submission | None = None
        self.started = 0.0

    def attach(self, workspace: Workspace) -> "_Worker":
        """Give the worker its copy of the (now complete) gradebook."""
        db_path = workspace.workers_dir / f"gradebook-{self.name}.db"
        shutil.copyfile(workspace.gradebook, db_path)
        self.conn.send(str(db_path))
        return self

    def send(self, sub: Submission) -> None:
        self.task, self.started = sub, time.monotonic()
        self.conn.send((sub.student, sub.assignment))

    def kill(self) -> None:
        """Kill the process and everything it started (kernels run in their own session)."""
        try:
            import psutil

            tree = psutil.Process(self.process.pid).children(recursive=True)
        except Exception:  # psutil missing or the process already gone
            tree = []
        for proc in tree:
            try:
                proc.kill()
            except Exception:
                pass
        if self.process.is_alive():
            self.process.kill()
        self.process.join(10)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(30)
        if self.process.is_alive():
            self.kill()
        else:
            self.conn.close()


def _start_workers(workspace: Workspace, workers: int, timeout: int) -> list[_Worker]:
    """Start `workers` grading processes (they wait for `attach`); call inside the kernel environment."""
    context = multiprocessing.get_context("spawn")
    return [_Worker(context, f"0-{index}", workspace, timeout) for index in range(workers)]


def _grade_with_workers(todo: list[Submission], workspace: Workspace, workers: int, timeout: int,
                        notebook_timeout: float, finish, started: list[_Worker] = ()) -> None:
    """Grade `todo` with `workers` processes (module docstring); a submission whose grading takes
    longer than `notebook_timeout` seconds, or whose process dies, fails with a reason, and its
    worker is replaced by a fresh one."""
    context = multiprocessing.get_context("spawn")
    folder = workspace.workers_dir
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    queue = list(reversed(todo))
    generation = 0

    def new_worker() -> _Worker:
        nonlocal generation
        generation += 1
        return _Worker(context, str(generation), workspace, timeout).attach(workspace)

    pool = [worker.attach(workspace) for worker in started[:workers]]
    for worker in started[workers:]:
        worker.stop()
    try:
        pool += [new_worker() for _ in range(workers - len(pool))]
        while queue or any(w.task for w in pool):
            for worker in pool:
                if worker.task is None and queue:
                    worker.send(queue.pop())
            busy = [w for w in pool if w.task is not None]
            now = time.monotonic()
            wait_for = max(0.0, min(w.started + notebook_timeout for w in busy) - now)
            multiprocessing.connection.wait(
                [w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=wait_for + 0.05)
            for index, worker in enumerate(pool):
                sub = worker.task
                if sub is None:
                    continue
                outcome = None
                try:
                    if worker.conn.poll():
                        outcome = worker.conn.recv()
                except (EOFError, OSError):
                    pass
                if outcome is not None:
                    worker.task = None
                    finish(sub, *outcome)
                    continue
                seconds = time.monotonic() - worker.started
                if not worker.process.is_alive():
                    reason = f"the grading process died (exit code {worker.process.exitcode})"
                elif seconds > notebook_timeout:
                    reason = (f"grading took longer than the notebook time limit of {notebook_timeout:g} s "
                              "(--notebook-timeout); stopped")
                else:
                    continue
                worker.kill()
                pool[index] = new_worker()
                finish(sub, False, reason, seconds, None)
    finally:
        for worker in pool:
            if worker.task is None:
                worker.stop()
            else:
                worker.kill()
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# A Dask cluster (--dask ADDRESS)
# ---------------------------------------------------------------------------------------------
def _kill_tree(pid: int) -> None:
    try:
        import psutil

        root = psutil.Process(pid)
        for proc in root.children(recursive=True) + [root]:
            try:
                proc.kill()
            except psutil.Error:
                pass
    except Exception:
        pass


def _task_main() -> None:
    """Entry point of one grading subprocess started by `grade_in_subprocess`: argv[1] is JSON."""
    args = json.loads(sys.argv[1])
    config = nbgrader_config(Path(args["root"]), f"sqlite:///{args['db_path']}", timeout=args["timeout"])
    result = run_converter(Autograde, config, assignment_id=args["assignment"], student_id=args["student"])
    print("\n" + json.dumps([result.success, result.error]), flush=True)


def grade_in_subprocess(student: str, assignment: str, db_path: str, root: str, timeout: int,
                        notebook_timeout: float, env: dict[str, str]) -> tuple[bool, str, float, str | None]:
    """Grade one submission into the gradebook copy `db_path` in a fresh Python process (killed with
    its kernel after `notebook_timeout` s). This is the task a Dask worker runs: it needs the
    workspace at the same path and the course installed, and it starts processes with subprocess,
    which works in daemonic Dask workers too."""
    import os
    import subprocess

    start = time.monotonic()
    arguments = json.dumps({"student": student, "assignment": assignment, "db_path": db_path, "root": root,
                            "timeout": timeout})
    process = subprocess.Popen(
        [sys.executable, "-c", "from grader.autograde import _task_main; _task_main()", arguments],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, **env}, text=True,
    )
    try:
        out, _ = process.communicate(timeout=notebook_timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process.pid)
        process.communicate()
        return (False, f"grading took longer than the notebook time limit of {notebook_timeout:g} s "
                       "(--notebook-timeout); stopped", time.monotonic() - start, None)
    seconds = time.monotonic() - start
    try:
        success, error = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False, f"the grading process died (exit code {process.returncode})", seconds, None
    return success, error, seconds, f"sqlite:///{db_path}"


def _grade_on_dask(todo: list[Submission], workspace: Workspace, address: str, timeout: int,
                   notebook_timeout: float, env: dict[str, str], finish) -> None:
    """Send each submission to the Dask scheduler at `address`; merge results as they come."""
    import os

    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError as error:
        raise GraderError(f"--dask needs the 'distributed' package ({error})") from None
    folder = workspace.workers_dir
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    env = dict(env)
    if os.environ.get("PYTHONPATH"):
        env.setdefault("PYTHONPATH", os.environ["PYTHONPATH"])
    try:
        client = Client(address, timeout="20s")
    except OSError as error:
        raise GraderError(f"cannot reach the Dask scheduler at {address}: {error}") from None
    try:
        futures = {}
        for index, sub in enumerate(todo):
            copy = folder / f"gradebook-dask-{index}.db"
            shutil.copyfile(workspace.gradebook, copy)  # before any merge, so every copy is consistent
            future = client.submit(grade_in_subprocess, sub.student, sub.assignment, str(copy), str(workspace.root),
                                   timeout, notebook_timeout, env, pure=False, key=f"grade-{index}-{sub.key}")
            futures[future] = sub
        for future in dask_completed(list(futures)):
            sub = futures[future]
            try:
                outcome = future.result()
            except Exception as crash:  # the task itself failed (worker lost, ...)
                outcome = (False, f"the Dask task failed: {crash!r}", 0.0, None)
            finish(sub, *outcome)
    finally:
        client.close()
        shutil.rmtree(folder, ignore_errors=True)


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
    notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    dask: str | None = None,
    force: bool = False,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> AutogradeResult:
    """Grade every submission under `submissions_dir` into `workspace` (see the module docstring)."""
    if workers < 1:
        raise GraderError(f"--workers must be at least 1, got {workers}")
    if timeout < 1:
        raise GraderError(f"--timeout must be at least 1 second, got {timeout}")
    if notebook_timeout <= timeout:
        raise GraderError(f"--notebook-timeout ({notebook_timeout:g} s) must be longer than the per-cell "
                          f"--timeout ({timeout} s)")
    if memory_limit < 0:
        raise GraderError(f"--memory-limit cannot be negative, got {memory_limit}")
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

    env = kernel_environment(workspace.ipython_dir, memory_limit)
    started: list[_Worker] = []
    if not dask:  # start the workers now: they import nbgrader while the gradebook is prepared
        with environment(**env):
            started = _start_workers(workspace, min(workers, len(todo)), timeout)
    try:
        return _grade_all(todo, result, hashes, workspace, source_dir, workers, timeout, notebook_timeout,
                          memory_limit, dask, env, started, progress)
    finally:
        for worker in started:
            if worker.process.is_alive() and worker.task is None:
                worker.stop()


def _grade_all(todo, result, hashes, workspace, source_dir, workers, timeout, notebook_timeout, memory_limit,
               dask, env, started, progress) -> AutogradeResult:
    db_url = workspace.db_url
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
            shutil.rmtree(workspace.step("autograded") / sub.student / sub.assignment, ignore_errors=True)
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

    memory = f"{memory_limit / 2**30:g} GiB per kernel" if memory_limit else "no memory limit"
    where = f"on the Dask cluster at {dask}" if dask else f"with {min(workers, total)} worker(s)"
    progress(f"grading {total} submission(s) {where}, "
             f"{timeout} s per cell, {notebook_timeout:g} s per submission, {memory}; "
             f"{len(result.graded)} unchanged")
    if dask:
        _grade_on_dask(todo, workspace, dask, timeout, notebook_timeout, env, finish)
        return result
    with environment(**env):
        _grade_with_workers(todo, workspace, min(workers, total), timeout, notebook_timeout, finish, started)
    return result
