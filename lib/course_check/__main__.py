"""Check your own notebook as the grader would, on inputs nobody has seen.

    python -m course_check 02_attention course/02_attention/02_attention.ipynb [--seed N ...]

Runs the notebook's code (every cell but the test cells, IPython magics included) in this
process, then every test cell's check with *fresh probes*: every case the grader runs (more
shapes, dtypes and edge cases than the visible tests), on random inputs. It prints one verdict
per test cell, with the named mistake when a check recognises one, and the seed, so that a run
can be repeated with `--seed` (given more than once, the checks run once per seed, on the notebook
run once). It needs only the notebook: no solutions, no grader. While it
runs, `NBGRADER_EXECUTION=validate` is set, so the capstone trains its short schedule.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from course_check.self_check import read_notebook, report, run_checks, run_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", help="the notebook's name, e.g. 02_attention")
    parser.add_argument("notebook", type=Path, nargs="?",
                        help="your notebook (default: course/<assignment>/<assignment>.ipynb)")
    parser.add_argument("--seed", type=int, action="append",
                        help="repeat a run: the seed it printed (repeatable: one run of the checks per seed)")
    args = parser.parse_args(argv)
    path = args.notebook or Path("course") / args.assignment / f"{args.assignment}.ipynb"
    if not path.exists():
        parser.error(f"no notebook at {path}")
    code, tests = read_notebook(path)
    if not tests:
        parser.error(f"{path} has no test cells that run a course_check check")
    seeds = args.seed or [int.from_bytes(os.urandom(4), "little")]
    namespace = None
    passed = True
    for seed in seeds:
        print(f"Checking {path} ({args.assignment}) on fresh inputs, seed {seed}: every case the grader runs.")
        if namespace is None:  # the notebook runs once, before the first seed's checks
            namespace, errors = run_code(code)
            for line in errors:
                print(f"  note: {line}")
        passed = report(tests, run_checks(tests, namespace, seed)) and passed
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
