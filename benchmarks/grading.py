"""How fast is `python -m grader autograde` compared with plain nbgrader and with the floor?

    .venv/bin/python benchmarks/grading.py [--students 12] [--assignments 01_embeddings 02_attention]
                                           [--workers 2] [--repeat 1] [--floor-repeat 3] [--keep DIR]
                                           [--dask] [--no-fresh] [--no-serial]

1. Builds N synthetic full-course submissions from solutions/ (the released notebooks filled in
   with grader.sample.solved): two thirds correct, every third one partial (last exercise left
   blank), so both passing and failing tests run.
2. Grades them (i) with plain serial `nbgrader autograde` (the nbgrader command line, default
   settings apart from the kernel name and the timeout, one run per assignment, in a temporary
   course directory) and (ii) with `python -m grader autograde --workers N`, once with
   `--kernel fresh` and once with `--kernel forked` (kernels forked from a warm parent per worker,
   grader/forked.py), alternating which goes first when `--repeat` > 1; prints the wall times and
   their ratios (the machine's load changes during a run: compare arms of the same run only).
   Serial nbgrader runs `--repeat` times too (its spread is 10-30 %). With `--dask`, one more arm:
   `--dask ADDRESS --kernel forked` on a fresh `distributed.LocalCluster` of `--workers` worker
   processes x 1 thread each time (its start-up not counted; its workers' fork servers and warm
   parents are), and the notebooks per core-minute of it and of the local pool with forked kernels
   (`--no-fresh` leaves out the fresh-kernel arm; `--no-serial` leaves out serial nbgrader, for a
   comparison of Dask with the local pool only).
3. The floor: each assignment's correct notebook executed in a fresh kernel with nbclient,
   `--floor-repeat` times (median; default 3: one run alone varies by 10-30 %), split into "kernel
   start + setup imports" and "the rest". Our per-notebook time with each kernel (the time a worker
   spends on one submission, from the progress lines; median over the students) is printed as a
   multiple of it. `--floor-repeat 0` leaves it out.

Targets on a 2-core machine: ours >= 1.8x faster than serial nbgrader with fresh kernels, >= 3.5x
with forked kernels; per notebook <= 1.3x the floor with fresh kernels, <= 0.5x on average with
forked ones; on Dask per core >= 0.9x the local pool. It is a script, not a test: timings depend on
the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402

from grader.intake import find_assignments  # noqa: E402
from grader.settings import KERNEL_NAME, SOLUTIONS_DIR  # noqa: E402
from grader.release import release, write_notebook  # noqa: E402
from grader.sample import _grade_id, _is_solution, solved  # noqa: E402

BIN = Path(sys.executable).parent


def build(out: Path, course: Path, assignments: list[str], students: int) -> dict[str, nbformat.NotebookNode]:
    """Write OUT/<student>/<A>/<A>.ipynb; return each assignment's correct notebook."""
    release(assignments, source_dir=SOLUTIONS_DIR, course_dir=course, bundle_path=None, say=lambda _: None)
    correct = {}
    for a in assignments:
        released = nbformat.read(course / a / f"{a}.ipynb", as_version=4)
        source = nbformat.read(SOLUTIONS_DIR / a / f"{a}.ipynb", as_version=4)
        exercises = [_grade_id(c) for c in source.cells if _is_solution(c)]
        correct[a] = solved(released, source)
        partial = solved(released, source, leave_blank={exercises[-1]})
        for i in range(students):
            path = out / f"student{i:02d}" / a / f"{a}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_notebook(partial if i % 3 == 2 else correct[a], path)
    return correct


def plain_nbgrader(root: Path, submissions: Path, assignments: list[str], timeout: int) -> tuple[float, float]:
    """Serial `nbgrader autograde` in a fresh course directory; returns the wall times of autograde
    and of the `generate_assignment` runs before it (which fill the gradebook; ours does that too)."""
    root.mkdir(parents=True)
    (root / "source").symlink_to(SOLUTIONS_DIR, target_is_directory=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.Execute.kernel_name = {KERNEL_NAME!r}\n"
        f"c.Execute.timeout = {timeout}\n"
        "c.Autograde.create_student = True\n"
    )
    shutil.copytree(submissions, root / "submitted")
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")

    def nbgrader(*args: str) -> None:
        subprocess.run([str(BIN / "nbgrader"), *args, "--force"], cwd=root, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    start = time.monotonic()
    for a in assignments:
        nbgrader("generate_assignment", a)
    generated = time.monotonic()
    for a in assignments:
        nbgrader("autograde", a)
    return time.monotonic() - generated, generated - start


def ours(workspace: Path, submissions: Path, workers: int, timeout: int,
         sandbox: bool = True, kernel: str = "forked", dask: str | None = None,
         on_start: Callable[[int], None] | None = None) -> tuple[float, dict[str, list[float]], str]:
    """Wall time of `python -m grader autograde`, the seconds of each notebook per assignment (from
    the progress lines), and its output; `on_start(pid)` is called as soon as the command runs."""
    sandbox = [] if sandbox else ["--no-sandbox"]
    where = ["--dask", dask] if dask else ["--workers", str(workers)]
    if workspace.exists():
        shutil.rmtree(workspace)
    start = time.monotonic()
    run = subprocess.Popen([sys.executable, "-m", "grader", "autograde", str(submissions), "--workspace", str(workspace),
                            *where, "--timeout", str(timeout), "--kernel", kernel, *sandbox],
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if on_start is not None:
        on_start(run.pid)
    stdout, stderr = run.communicate()
    wall = time.monotonic() - start
    if dask and "forked kernels" not in stderr:
        sys.exit(f"grader autograde --dask did not fork its kernels:\n{stderr}")
    if run.returncode != 0:
        sys.exit(f"grader autograde failed ({run.returncode}):\n{stdout}\n{stderr}")
    per: dict[str, list[float]] = {}
    for m in re.finditer(r"^\[\d+/\d+\] [^/]+/(\S+): \S+ \(([\d.]+) s\)", stderr, flags=re.M):
        per.setdefault(m.group(1), []).append(float(m.group(2)))
    return wall, per, stdout


def on_dask(workspace: Path, submissions: Path, workers: int, timeout: int,
            sandbox: bool = True) -> tuple[float, dict[str, list[float]], str]:
    """`ours` on a fresh LocalCluster of `workers` worker processes x 1 thread (its start not timed)."""
    import distributed

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=50) as cluster:
        return ours(workspace, submissions, workers, timeout, sandbox, "forked", dask=cluster.scheduler_address)


def spread(times: list[float]) -> str:
    """median (min-max, n runs)"""
    return f"{statistics.median(times):.1f} s ({min(times):.1f}-{max(times):.1f}, {len(times)} run(s))"


def floor(nb: nbformat.NotebookNode, timeout: int) -> tuple[float, float]:
    """(total, kernel start + setup cell) seconds to run `nb` once in a fresh kernel."""
    from nbclient import NotebookClient

    os.environ["NBGRADER_EXECUTION"] = "autograde"  # the capstone's short schedule, as in grading
    nb = nbformat.from_dict(nb)
    client = NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=timeout, allow_errors=True,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    start = time.monotonic()
    with client.setup_kernel():
        first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
            if index == first_code:
                setup = time.monotonic() - start
    return time.monotonic() - start, setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=12)
    parser.add_argument("--assignments", nargs="+", metavar="A", help="default: every assignment in solutions/")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=120, help="per-cell timeout for both graders")
    parser.add_argument("--sandbox", action=argparse.BooleanOptionalAction, default=True,
                        help="grade ours in the bubblewrap sandbox (default, as the command line does)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="grade with each kernel this many times, alternating which goes first (medians)")
    parser.add_argument("--floor-repeat", type=int, default=3,
                        help="run each assignment's floor this many times and take the median (default 3; 0: no floor)")
    parser.add_argument("--keep", type=Path, help="keep the work folder here instead of a temporary one")
    parser.add_argument("--dask", action="store_true",
                        help="also grade on a local Dask cluster (--workers processes x 1 thread), forked kernels")
    parser.add_argument("--fresh", action=argparse.BooleanOptionalAction, default=True,
                        help="grade with fresh kernels too (default)")
    parser.add_argument("--serial", action=argparse.BooleanOptionalAction, default=True,
                        help="grade with plain serial nbgrader too (default; --no-serial with --dask compares "
                             "Dask with the local pool only)")
    args = parser.parse_args()
    assignments = args.assignments or find_assignments(SOLUTIONS_DIR)
    work = Path(tempfile.mkdtemp(prefix="grading-bench-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        subs = work / "submitted"
        correct = build(subs, work / "course", assignments, args.students)
        n = args.students * len(assignments)
        print(f"{args.students} students x {len(assignments)} assignment(s) ({', '.join(assignments)}) = {n} notebooks, "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")

        floors = {}
        for a in assignments if args.floor_repeat > 0 else []:
            runs = [floor(correct[a], args.timeout) for _ in range(args.floor_repeat)]
            floors[a] = (statistics.median(total for total, _ in runs), statistics.median(setup for _, setup in runs))
        arms = [*(["fresh"] if args.fresh else []), "forked", *(["dask"] if args.dask else [])]
        nbg_walls, gen_walls = [], []
        walls: dict[str, list[float]] = {arm: [] for arm in arms}
        per: dict[str, dict[str, list[float]]] = {arm: {} for arm in arms}
        for repeat in range(args.repeat):
            if args.serial:
                shutil.rmtree(work / "nbgrader", ignore_errors=True)
                wall_nbg, wall_gen = plain_nbgrader(work / "nbgrader", subs, assignments, args.timeout)
                nbg_walls.append(wall_nbg)
                gen_walls.append(wall_gen)
            for arm in arms if repeat % 2 == 0 else arms[::-1]:
                if arm == "dask":
                    wall, times, _ = on_dask(work / f"ws-{arm}", subs, args.workers, args.timeout, args.sandbox)
                else:
                    wall, times, _ = ours(work / f"ws-{arm}", subs, args.workers, args.timeout, args.sandbox, arm)
                walls[arm].append(wall)
                for a, seconds in times.items():
                    per[arm].setdefault(a, []).extend(seconds)
        wall = {arm: statistics.median(times) for arm, times in walls.items()}
        print(f"load average at the end: {os.getloadavg()[0]:.1f}\n")
        report(args, n, wall, walls, per, nbg_walls, gen_walls, floors, assignments)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def report(args: argparse.Namespace, n: int, wall: dict[str, float], walls: dict[str, list[float]],
           per: dict[str, dict[str, list[float]]], nbg_walls: list[float], gen_walls: list[float],
           floors: dict[str, tuple[float, float]], assignments: list[str]) -> None:
    """Print each arm's wall time, the ratios against their targets and the per-notebook table."""
    confined = "sandboxed" if args.sandbox else "--no-sandbox"
    if nbg_walls:
        wall_nbg = statistics.median(nbg_walls)
        print(f"(i)   serial nbgrader autograde:                        {wall_nbg:7.1f} s  ({wall_nbg / n:.2f} s per notebook; "
              f"runs: {spread(nbg_walls)})")
    for kernel in ("fresh", "forked"):
        if kernel in wall:
            print(f"(ii)  python -m grader autograde --workers {args.workers} --kernel {kernel:<6} ({confined}): "
                  f"{wall[kernel]:7.1f} s  ({wall[kernel] / n:.2f} s per notebook; runs: {spread(walls[kernel])})")
    if "dask" in wall:
        print(f"(iii) python -m grader autograde --dask (LocalCluster {args.workers} x 1 thread) --kernel forked "
              f"({confined}): {wall['dask']:7.1f} s  ({wall['dask'] / n:.2f} s per notebook; runs: {spread(walls['dask'])})")
    if nbg_walls and "fresh" in wall:
        fresh_ratio = wall_nbg / wall["fresh"]
        print(f"speed-up over serial nbgrader, fresh kernels:  {fresh_ratio:.2f}x  "
              f"(target >= 1.8x: {'met' if fresh_ratio >= 1.8 else 'NOT met'})")
    if nbg_walls:
        forked_ratio = wall_nbg / wall["forked"]
        print(f"speed-up over serial nbgrader, forked kernels: {forked_ratio:.2f}x  "
              f"(target >= 3.5x: {'met' if forked_ratio >= 3.5 else 'NOT met'})")
    if "fresh" in wall:
        print(f"forked over fresh kernels: {wall['fresh'] / wall['forked']:.2f}x")
    if "dask" in wall:
        # Both use --workers task slots on this machine's cores: notebooks per slot-minute.
        local_rate, dask_rate = (n / (wall[arm] / 60) / args.workers for arm in ("forked", "dask"))
        ratios = [walls["forked"][i] / walls["dask"][i] for i in range(args.repeat)]
        print(f"notebooks per core-minute: local pool {local_rate:.1f}, Dask {dask_rate:.1f}; Dask per core "
              f"{dask_rate / local_rate:.2f}x the local pool (per repeat: {', '.join(f'{r:.2f}' for r in ratios)}; "
              f"target >= 0.9x: {'met' if dask_rate / local_rate >= 0.9 else 'NOT met'})")
    if nbg_walls:
        print(f"     (ours includes filling the gradebook from solutions/; nbgrader's generate_assignment for that "
              f"took {statistics.median(gen_walls):.1f} s more)")
    # Seconds a worker spends on one notebook, median over the students, per arm (and as a multiple of the floor).
    arms = [arm for arm in ("fresh", "forked", "dask") if arm in wall]
    header = f"\n{'assignment':<20}" + (f" {'floor s':>8} {'kernel+setup s':>15}" if floors else "")
    for arm in arms:
        header += f" {arm + ' s':>9}" + (f" {'x floor':>8}" if floors else "")
    print(header)
    multiples: dict[str, list[float]] = {arm: [] for arm in arms}
    for a in assignments:
        row = f"{a:<20}" + (f" {floors[a][0]:8.2f} {floors[a][1]:15.2f}" if floors else "")
        for arm in arms:
            mine = statistics.median(per[arm].get(a, [float("nan")]))
            row += f" {mine:9.2f}"
            if floors:
                multiples[arm].append(mine / floors[a][0])
                row += f" {mine / floors[a][0]:8.2f}"
        print(row)
    if not floors:
        return
    if "fresh" in wall:
        worst = max(multiples["fresh"])
        print(f"per-notebook time, fresh kernels: up to {worst:.2f}x the floor "
              f"(target <= 1.3x: {'met' if worst <= 1.3 else 'NOT met'})")
    mean = statistics.mean(multiples["forked"])
    print(f"per-notebook time, forked kernels: {mean:.2f}x the floor on average, up to {max(multiples['forked']):.2f}x "
          f"(target <= 0.5x on average: {'met' if mean <= 0.5 else 'NOT met'})")
    share = statistics.mean(floors[a][1] / floors[a][0] for a in assignments)
    print(f"kernel start + setup imports are {share:.0%} of the floor on average")


if __name__ == "__main__":
    main()
