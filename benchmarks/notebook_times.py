"""Time every solution notebook against the course's time budget.

    .venv/bin/python benchmarks/notebook_times.py                 # every notebook as the grader runs it
    .venv/bin/python benchmarks/notebook_times.py 02_attention    # only some of them
    .venv/bin/python benchmarks/notebook_times.py --full 08_capstone   # the full schedule a student runs by hand
    .venv/bin/python benchmarks/notebook_times.py --keep /tmp/run      # also keep the executed notebooks

Each notebook runs top to bottom with nbclient in a fresh `transformer-course` kernel, with
NBGRADER_EXECUTION=autograde (so the capstone trains its reduced grading schedule), exactly as
tests/test_notebooks.py runs them. The time is the wall time from starting the kernel to the end of
the last cell. Budget: 20 s per notebook, 60 s for the capstone on its grading schedule (measured
on 2 CPU cores; the load average is printed, because other processes on the machine slow the
notebooks down). The CPU seconds the kernel itself used (user + system, from the exited kernel's
resource usage) are printed too: unlike the wall time, they hardly depend on the load, and on an
otherwise idle machine the wall time is close to them. `--full` runs without NBGRADER_EXECUTION and has no budget: it measures the
figure the capstone's introduction states. Exit status 1 if a notebook fails or is over budget.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from grader.intake import find_assignments
from grader.settings import KERNEL_NAME, SOLUTIONS_DIR

BUDGET_SECONDS = {"08_capstone": 60.0}
DEFAULT_BUDGET_SECONDS = 20.0


def processor_name() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo; platform's guess elsewhere), to state with a time."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown processor"


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_notebook(assignment: str, grading_schedule: bool, keep: Path | None = None) -> tuple[float, float]:
    """Execute solutions/<assignment>/<assignment>.ipynb in a fresh kernel.

    Returns (wall seconds, CPU seconds of the kernel process, which is a child of this one).

    With `keep`, the executed notebook (with its outputs) is written to keep/<assignment>.ipynb.
    """
    path = SOLUTIONS_DIR / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(path, as_version=4)
    if grading_schedule:
        os.environ["NBGRADER_EXECUTION"] = "autograde"
    else:
        os.environ.pop("NBGRADER_EXECUTION", None)
    cpu = _children_cpu_seconds()
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name=KERNEL_NAME,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    cpu = _children_cpu_seconds() - cpu
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, keep / f"{assignment}.ipynb")
    return seconds, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: every notebook in solutions/)")
    parser.add_argument("--full", action="store_true", help="run without NBGRADER_EXECUTION (the student's full schedule)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="also write the executed notebooks (with outputs) to DIR")
    args = parser.parse_args(argv)
    assignments = args.assignments or find_assignments(SOLUTIONS_DIR)
    print(f"{os.cpu_count()} CPUs ({processor_name()}); load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| notebook | schedule | wall seconds | kernel CPU seconds | budget | within |\n|---|---|---:|---:|---:|---|")
    failed = False
    for assignment in assignments:
        budget = None if args.full else BUDGET_SECONDS.get(assignment, DEFAULT_BUDGET_SECONDS)
        try:
            seconds, cpu = run_notebook(assignment, grading_schedule=not args.full, keep=args.keep)
        except Exception as err:  # a failing notebook is reported, and the others still run
            print(f"| {assignment} | {'full' if args.full else 'grading'} | failed: {type(err).__name__}: "
                  f"{str(err).strip().splitlines()[-1][:150]} | | | no |")
            failed = True
            continue
        within = budget is None or seconds <= budget
        failed |= not within
        print(f"| {assignment} | {'full' if args.full else 'grading'} | {seconds:.1f} | {cpu:.1f} | "
              f"{'-' if budget is None else f'{budget:g}'} | {'yes' if within else 'NO'} |", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
