"""Measure what the visible tests teach: run the corpus through the released notebooks, hidden tests removed.

    python -m tools.visible [--assignment A ...] [--out REPORT.md] [--details]

A student sees only the visible part of each test cell. For every `wrong` and `correct` corpus
variant (`tests/corpus/<A>/<variant>.py`, format in tests/corpus/README.md; with `--details`, the
delegating, reviewed and cheating ones too) this runs the released
notebook of its assignment (`course/`, which has no hidden tests) with every exercise solved and
the variant's text in its exercise's cell, and records each test cell's outcome and message. It
reports, per notebook and overall:

- `fail visibly`: the share of `wrong` variants failing at least one visible test cell of their
  own exercise (target: at least 95 %);
- `named`: the share of `wrong` variants whose own failure says what the mistake is (target: at
  least 80 %). A message is *generic*, not named, when it only reports a mismatch ("... is not
  correct: at index (1, 2) it is 0.3, expected 0.5", "... has wrong entries.") without "It looks
  like ...", or when it is an exception other than AssertionError; any other message of a check
  was written for one recognised situation (a wrong dtype, an in-place change, a refused call,
  a missing ValueError, a diagnosed mistake) and counts as named;
- `correct pass`: the share of `correct` variants passing every visible test cell (target: 100 %);
- `cost elsewhere`: `wrong` variants failing a visible test cell of another exercise (target: none).

Execution is in-process and fast: one warm parent per notebook (torch and the checks imported
once, IPython's InteractiveShell; one notebook per core at a time, the most work first) runs the
solved notebook cell by cell and, at each exercise's cell, forks one child per variant of that
exercise, which runs the variant and the rest of the notebook's graded cells (solutions and tests; `--all-cells` also runs the demos and the
capstone's training, which score nothing: slower, same verdicts). The parent's own run, every
cell up to the last graded one (all of them with `--all-cells`; tests/e2e/test_notebooks.py runs
every cell in a kernel), is the reference: it must pass every visible test.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "agg")
os.environ.setdefault("NBGRADER_EXECUTION", "autograde")  # the capstone trains its short schedule

import nbformat  # noqa: E402

from grader.sample import solved, without_markers  # noqa: E402
from grader.settings import REPO_ROOT, SOLUTIONS_DIR  # noqa: E402
from tools.corpus import VERDICTS, Variant, load_corpus  # noqa: E402

COURSE_DIR = REPO_ROOT / "course"
VARIANT_SECONDS = 120  # a variant that runs longer (an endless loop) is stopped and counted as failing
GENERIC = [
    re.compile(r"is not correct: at index .* expected .*\(difference [^)]*\)\.(?! It looks like)"),
    re.compile(r"has wrong entries\.(?! It looks like)"),
    re.compile(r"contains NaN or infinite values where the correct result is finite\. Large inputs overflow"),
]


@dataclass
class Outcome:
    """One run of a notebook: the message of every failing test cell (grade_id -> message)."""

    failures: dict[str, str] = field(default_factory=dict)
    test_cells: list[str] = field(default_factory=list)
    seconds: float = 0.0


def is_named(message: str) -> bool:
    """True when a failure message names the mistake (module docstring)."""
    if not message.startswith("AssertionError"):
        return False
    return not any(pattern.search(message) for pattern in GENERIC)


@functools.lru_cache(maxsize=None)
def _cells(assignment: str) -> list[nbformat.NotebookNode]:
    """The solved released notebook's code cells (read once: `measure` sizes the work with them,
    then each notebook's process, forked after, runs them)."""
    name = f"{assignment}.ipynb"
    released = nbformat.read(COURSE_DIR / assignment / name, as_version=4)
    nb = solved(released, nbformat.read(SOLUTIONS_DIR / assignment / name, as_version=4))
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _graded(cell) -> bool:
    """A solution or test cell (the rest, demos and the capstone's training, score nothing)."""
    return bool(_nbgrader(cell).get("grade") or _nbgrader(cell).get("solution"))


def _shell():
    import matplotlib

    matplotlib.use("agg")
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.register_magic_function(lambda line="": None, magic_kind="line", magic_name="matplotlib")
    import torch

    torch.set_num_threads(1)
    import course_check.common  # noqa: F401  (warm: every child shares the imported checks)

    return shell


def _run(shell, cell, source: str, outcome: Outcome) -> None:
    """Run one cell; for a test cell, record its failure message."""
    import io
    import contextlib

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = shell.run_cell(source, silent=True, store_history=False)
    import matplotlib.pyplot as plt

    plt.close("all")
    meta = _nbgrader(cell)
    if meta.get("grade") and not meta.get("solution"):
        outcome.test_cells.append(meta["grade_id"])
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            outcome.failures[meta["grade_id"]] = f"{type(error).__name__}: {error}"[:2000]


class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Timeout(f"the notebook ran longer than {VARIANT_SECONDS} s")


def run_assignment(assignment: str, variants: list[Variant], all_cells: bool = False) -> tuple[Outcome, dict[str, Outcome]]:
    """The reference's outcome and each variant's, for one notebook (forks; see the module docstring)."""
    cells = _cells(assignment)
    exercises = {_nbgrader(c).get("grade_id"): i for i, c in enumerate(cells) if _nbgrader(c).get("solution")}
    for v in variants:
        if v.exercise not in exercises:
            raise ValueError(f"{assignment}/{v.name}: no solution cell {v.exercise!r}")
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the warm parent of this notebook, itself a child so that the caller stays clean
        os.close(reader)
        out = os.fdopen(writer, "w")
        try:
            _parent(cells, exercises, variants, out, all_cells)
        finally:
            out.flush()
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as f:
        lines = [json.loads(line) for line in f]
    os.waitpid(pid, 0)
    results = {row["name"]: Outcome(row["failures"], row["test_cells"], row["seconds"]) for row in lines}
    return results.pop("<reference>", Outcome(failures={"<all>": "the reference run did not finish"})), results


def _parent(cells, exercises, variants, out, all_cells: bool) -> None:
    shell = _shell()
    signal.signal(signal.SIGALRM, _on_alarm)
    by_cell: dict[int, list[Variant]] = {}
    for v in variants:
        by_cell.setdefault(exercises[v.exercise], []).append(v)
    reference = Outcome()
    start = time.monotonic()
    graded = [i for i, c in enumerate(cells) if _graded(c)]
    for index, cell in enumerate(cells if all_cells else cells[:max(graded, default=-1) + 1]):
        for variant in by_cell.get(index, []):
            out.flush()
            child = os.fork()
            if child == 0:
                outcome = Outcome()
                began = time.monotonic()
                signal.alarm(VARIANT_SECONDS)
                try:
                    _run(shell, cell, without_markers(variant.source), outcome)
                    for later in cells[index + 1:]:
                        if all_cells or _graded(later):
                            _run(shell, later, later.source, outcome)
                except _Timeout as err:
                    outcome.failures["<timeout>"] = str(err)
                signal.alarm(0)
                outcome.seconds = time.monotonic() - began
                out.write(json.dumps({"name": variant.name, **outcome.__dict__}) + "\n")
                out.flush()
                os._exit(0)
            os.waitpid(child, 0)
        _run(shell, cell, cell.source, reference)
    reference.seconds = time.monotonic() - start
    out.write(json.dumps({"name": "<reference>", **reference.__dict__}) + "\n")


@dataclass
class Row:
    """The measurement for one variant."""

    variant: Variant
    own_failures: dict[str, str]
    other_failures: dict[str, str]

    @property
    def fails_visibly(self) -> bool:
        return bool(self.own_failures)

    @property
    def named(self) -> bool:
        return any(is_named(m) for m in self.own_failures.values())


MEASURED = ("wrong", "correct")  # the verdicts the targets read; --details shows the others too


def measure(assignments: list[str] | None = None, all_cells: bool = False,
            workers: int = os.cpu_count() or 1, verdicts: tuple[str, ...] = MEASURED) -> tuple[list[Row], dict[str, Outcome]]:
    """The outcome of every variant with one of these verdicts, and each notebook's reference; the
    notebooks run `workers` at a time, the most work (variants x cells) first, each in a child of
    its own (tools.inprocess._schedule)."""
    from tools.inprocess import _schedule

    variants = [v for v in load_corpus(assignments) if v.verdict in verdicts]
    by_assignment: dict[str, list[Variant]] = {}
    for v in variants:
        by_assignment.setdefault(v.assignment, []).append(v)

    def run(assignment: str) -> dict:
        began = time.monotonic()
        reference, outcomes = run_assignment(assignment, by_assignment[assignment], all_cells)
        reference.seconds = time.monotonic() - began  # the whole notebook's measurement, variants included
        return {"reference": asdict(reference), "variants": {name: asdict(o) for name, o in outcomes.items()}}

    jobs = sorted(((a, functools.partial(run, a), VARIANT_SECONDS * (len(mine) + 1)) for a, mine in by_assignment.items()),
                  key=lambda job: -len(by_assignment[job[0]]) * len(_cells(job[0])))
    results = _schedule(jobs, workers)
    rows, references = [], {}
    for assignment in sorted(by_assignment):
        result = results[assignment]
        if not isinstance(result, dict):  # the notebook's process died or ran out of time: say so for each
            result = {"reference": {"failures": {"<all>": result}}, "variants": {}}
        references[assignment] = Outcome(**result["reference"])
        for v in by_assignment[assignment]:
            outcome = Outcome(**result["variants"].get(v.name, {"failures": {"<crash>": "the variant's run did not finish"}}))
            own = {g: m for g, m in outcome.failures.items() if g.startswith(f"test_{v.exercise}") or g.startswith("<")}
            other = {g: m for g, m in outcome.failures.items() if g not in own}
            rows.append(Row(v, own, other))
    return rows, references


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f} %)" if whole else "-"


def summary(rows: list[Row], references: dict[str, Outcome]) -> dict[str, dict[str, tuple[int, int]]]:
    """{notebook or "overall": {measure: (count, of)}}."""
    table = {}
    for key in [*sorted({r.variant.assignment for r in rows}), "overall"]:
        group = [r for r in rows if key in ("overall", r.variant.assignment)]
        wrong = [r for r in group if r.variant.verdict == "wrong"]
        correct = [r for r in group if r.variant.verdict == "correct"]
        table[key] = {
            "fail visibly": (sum(r.fails_visibly for r in wrong), len(wrong)),
            "named": (sum(r.named for r in wrong), len(wrong)),
            "correct pass": (sum(not r.own_failures and not r.other_failures for r in correct), len(correct)),
            "cost elsewhere": (sum(bool(r.other_failures) for r in wrong), len(wrong)),
            "reference pass": (sum(not references[a].failures for a in references if key in ("overall", a)),
                               sum(1 for a in references if key in ("overall", a))),
        }
    return table


def markdown(rows: list[Row], references: dict[str, Outcome], seconds: float, details: bool) -> str:
    table = summary(rows, references)
    lines = ["# What the visible tests catch", "", f"Generated by `python -m tools.visible` in {seconds:.0f} s.", "",
             "| notebook | wrong: fail visibly | wrong: named | correct: pass | wrong: cost elsewhere | reference passes | seconds |",
             "|---|---|---|---|---|---|---|"]
    for key, m in table.items():
        spent = sum(r.seconds for a, r in references.items() if key in ("overall", a))
        lines.append(f"| {key} | " + " | ".join(_share(*m[k]) for k in
                     ("fail visibly", "named", "correct pass", "cost elsewhere", "reference pass")) + f" | {spent:.0f} |")
    problems = [r for r in rows if (r.variant.verdict == "wrong" and (not r.named or r.other_failures))
                or (r.variant.verdict == "correct" and (r.own_failures or r.other_failures))]
    if problems or details:
        lines += ["", "| variant | verdict | what the student sees |", "|---|---|---|"]
        for r in (rows if details else problems):
            seen = "; ".join(f"{g}: {m}" for g, m in {**r.own_failures, **r.other_failures}.items()) or "every visible test passes"
            lines.append(f"| {r.variant.assignment}/{r.variant.name} | {r.variant.verdict} | {seen[:600].replace('|', '/')} |")
    for a, ref in references.items():
        if ref.failures:
            lines.append(f"\nReference {a} FAILS visibly: {ref.failures}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.visible", description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    parser.add_argument("--out", type=Path, help="write the Markdown report here (default: print it)")
    parser.add_argument("--details", action="store_true",
                        help="list every variant, not only the misses (delegating, reviewed and cheating ones too)")
    parser.add_argument("--all-cells", action="store_true", help="variants also run the ungraded cells after theirs")
    args = parser.parse_args(argv)
    start = time.monotonic()
    rows, references = measure(args.assignment, args.all_cells, verdicts=VERDICTS if args.details else MEASURED)
    report = markdown(rows, references, time.monotonic() - start, args.details)
    if args.out:
        args.out.write_text(report)
    else:
        print(report)
    overall = summary(rows, references)["overall"]
    ok = (overall["fail visibly"][0] >= 0.95 * overall["fail visibly"][1]
          and overall["named"][0] >= 0.80 * overall["named"][1]
          and overall["correct pass"][0] == overall["correct pass"][1]
          and overall["cost elsewhere"][0] == 0
          and overall["reference pass"][0] == overall["reference pass"][1])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
