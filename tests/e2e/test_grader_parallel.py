"""Issue 10: parallel grading (--workers 2) gives exactly the grades of serial grading.

The toy sample class plus a few wrong variants is graded twice through the command line, into
two workspaces, once with one worker and once with two; every per-cell score, every comment and
every failure reason must match.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader.cli import main
from grader.release import write_notebook
from grader.sample import build_sample_class
from grader.sandbox import KERNEL_DIR
from tests.e2e.processes import own_temporary_folder

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOY_SOURCE = FIXTURES / "solutions"
TOY = "00_toy"
NB = f"{TOY}.ipynb"

WRONG = {
    "frank_adds": {"double": "def double(x):\n    return x + 2"},
    "gina_cubes": {"square": "def square(x):\n    return x * x * x"},
    "hugo_both": {"double": "def double(x):\n    return 3 * x", "square": "def square(x):\n    return abs(x) * 2"},
}


def _cells(ws: Path) -> dict[tuple[str, str, str], tuple]:
    out = {}
    with Gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        for student in gb.students:
            for sub in student.submissions:
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        out[(student.id, nb.name, grade.name)] = (grade.auto_score, grade.max_score, grade.needs_manual_grade)
                    for comment in nb.comments:
                        out[(student.id, nb.name, "comment:" + comment.name)] = (comment.auto_comment,)
    return out


def _grade(subs: Path, ws: Path, workers: int) -> tuple[int, str, dict]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["autograde", str(subs), "--workspace", str(ws), "--source", str(TOY_SOURCE),
                   "--workers", str(workers), "--timeout", "20"])
    assert f"with {workers} worker(s)" in err.getvalue()
    return rc, out.getvalue(), _cells(ws)


def test_two_workers_give_the_serial_grades(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(FIXTURES / "kernel_path"))
    subs = tmp_path / "subs"
    build_sample_class(subs, [TOY], source_dir=TOY_SOURCE, say=lambda _: None)
    correct = subs / "alice_correct" / TOY / NB
    for student, changes in WRONG.items():
        nb = nbformat.read(correct, as_version=4)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in changes:
                cell.source = changes[grade_id]
        path = subs / student / TOY / NB
        path.parent.mkdir(parents=True)
        write_notebook(nb, path)

    rc1, out1, serial = _grade(subs, tmp_path / "serial", 1)
    rc2, out2, parallel = _grade(subs, tmp_path / "parallel", 2)
    assert rc1 == rc2 == 1  # dave_broken is not a notebook
    assert parallel == serial
    assert out2.replace("parallel", "serial") == out1
    students = {key[0] for key in serial}
    assert students == {"alice_correct", "bob_partial", "carol_blank", "erin_warnings", *WRONG}
    scores = {(s, g): v[0] for (s, _, g), v in serial.items() if not g.startswith("comment:")}
    assert scores[("frank_adds", "test_double_values")] == 0 and scores[("frank_adds", "test_square_values")] == 2
    assert scores[("gina_cubes", "test_double_values")] == 1 and scores[("gina_cubes", "test_square_values")] == 0
    assert scores[("hugo_both", "test_double_values")] == 0 and scores[("hugo_both", "test_square_values")] == 0


def test_dask_cluster_gives_the_same_grades(tmp_path, monkeypatch):
    """--dask ADDRESS: the same per-submission work on a (local, in-process) Dask cluster; a
    submission over --notebook-timeout is stopped there too, kernel included, and the rest graded."""
    import psutil

    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("PYTHONPATH", str(FIXTURES / "kernel_path"))
    subs = tmp_path / "subs"
    build_sample_class(subs, [TOY], source_dir=TOY_SOURCE, say=lambda _: None)
    slow = nbformat.read(subs / "alice_correct" / TOY / NB, as_version=4)
    slow.cells[2:2] = [nbformat.v4.new_code_cell("import time\ntime.sleep(3)") for _ in range(10)]
    (subs / "slow" / TOY).mkdir(parents=True)
    write_notebook(slow, subs / "slow" / TOY / NB)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), own_temporary_folder() as folder:
            rc = main(["autograde", str(subs), "--workspace", str(tmp_path / "ws"), "--source", str(TOY_SOURCE),
                       "--dask", cluster.scheduler_address, "--timeout", "5", "--notebook-timeout", "20",
                      ])
    assert rc == 1, out.getvalue() + err.getvalue()
    assert f"on the Dask cluster at {cluster.scheduler_address}" in err.getvalue()
    assert "forked kernels" in err.getvalue() and "fresh kernels" not in err.getvalue(), err.getvalue()
    not_graded = out.getvalue().split("could not grade 2:")[1]
    assert "dave_broken" in not_graded
    assert "notebook time limit of 20 s" in [line for line in not_graded.splitlines() if "/slow/" in line][0]
    ipython_dir = str(tmp_path / "ws" / "ipython")
    kernels = []
    for proc in psutil.process_iter():
        try:
            cmdline = " ".join(proc.cmdline())
            sandboxed = KERNEL_DIR in cmdline and folder in cmdline  # grader/sandbox.py
            if (sandboxed or proc.environ().get("IPYTHONDIR") == ipython_dir) and proc.status() != psutil.STATUS_ZOMBIE:
                kernels.append(proc.pid)
        except (psutil.Error, OSError):
            pass
    assert not kernels, "the stopped submission's kernel is still running"
    cells = _cells(tmp_path / "ws")
    totals: dict[str, float] = {}
    for (student, _, name), value in cells.items():
        if not name.startswith("comment:"):
            totals[student] = totals.get(student, 0) + value[0]
    assert totals == {"alice_correct": 3, "bob_partial": 1, "carol_blank": 0, "erin_warnings": 3}
    assert not (tmp_path / "ws" / "tasks").exists()


def test_dask_worker_processes_fork_warm_kernels_and_give_the_local_grades(tmp_path, monkeypatch):
    """Real Dask worker processes (daemonic, as `dask worker` starts them), 2 workers x 1 thread:
    each keeps a warm parent and the grading fork server for the run (grader/dask_workers.py), the
    log says forked kernels, every per-cell score and comment equals a local run's, the warm
    parents and the fork servers are gone when the command returns, and the workers' own sampling, quieted for the run,
    is back."""
    import psutil

    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("PYTHONPATH", str(FIXTURES / "kernel_path"))
    subs = tmp_path / "subs"
    build_sample_class(subs, [TOY], source_dir=TOY_SOURCE, say=lambda _: None)
    common = [str(subs), "--source", str(TOY_SOURCE), "--timeout", "30", "--kernel", "forked"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["autograde", *common, "--workspace", str(tmp_path / "local"), "--workers", "2"]) == 1
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            rc = main(["autograde", *common, "--workspace", str(tmp_path / "dask"), "--dask", cluster.scheduler_address])
        left = [child.pid for child in psutil.Process().children(recursive=True)  # nannies, workers, theirs
                if "warm_parent" in " ".join(child.cmdline())]
        with distributed.Client(cluster) as client:
            sampling = client.run(_sampling)
            workers = client.run(os.getpid).values()
        servers = [child.pid for pid in workers for child in psutil.Process(pid).children(recursive=True)
                   if "forkserver" in " ".join(child.cmdline())]
    assert rc == 1, err.getvalue()  # dave_broken's notebook cannot be read, as locally
    assert "forked kernels" in err.getvalue() and "fresh kernels" not in err.getvalue(), err.getvalue()
    assert not left, "the run's warm parents outlived it"
    assert not servers, "the workers' grading fork servers outlived the run (a next run would grade with stale checks)"
    assert set(sampling.values()) == {(True, 20)}, f"the workers' profiler and health check, after the run: {sampling}"
    assert _cells(tmp_path / "dask") == _cells(tmp_path / "local")


def _sampling(dask_worker) -> tuple[bool, float]:
    """On a Dask worker: (its profiler runs, its health check's milliseconds), which a run quiets."""
    callbacks = dask_worker.periodic_callbacks
    return callbacks["profile"].is_running(), callbacks["tick"].callback_time


def _grade_one_here(queue, task) -> None:
    from grader.execution import grade_one

    queue.put(grade_one(task))


def test_grade_one_in_a_daemonic_process(tmp_path, monkeypatch):
    """Where the caller may not fork children (a Dask worker process is daemonic), grade_one starts
    `python -m grader.execution` instead of forking: the same grade comes back."""
    import multiprocessing

    from grader.execution import tasks_for
    from grader.gradebook import merge_submission, submission_score
    from grader.release import generate
    from grader.settings import GradingLimits
    from grader.intake import scan
    from grader.workspace import Workspace, kernel_environment

    monkeypatch.setenv("PYTHONPATH", str(FIXTURES / "kernel_path"))
    subs = tmp_path / "subs"
    build_sample_class(subs, [TOY], source_dir=TOY_SOURCE, say=lambda _: None)
    [alice] = [sub for sub in scan(subs, TOY_SOURCE)[0] if sub.student == "alice_correct"]
    ws = Workspace(tmp_path / "ws")
    ws.prepare(TOY_SOURCE)
    generate(TOY_SOURCE, ws.step("release"), [TOY], ws.db_url, ws.root)
    ws.stage(alice)
    [task] = tasks_for([(alice.student, TOY)], ws.root, ws.gradebook, ws.tasks_dir, GradingLimits(30, 300, 0),
                       kernel_environment(ws.ipython_dir))
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_grade_one_here, args=(queue, task), daemon=True)
    process.start()
    outcome = queue.get(timeout=400)
    process.join(30)
    assert outcome.success, outcome.error
    merge_submission(outcome.db_url, ws.db_url, TOY, alice.student)
    assert submission_score(ws.db_url, TOY, alice.student) == (3, 3)
