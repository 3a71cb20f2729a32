"""Test the tests: grade the corpus of wrong, correct, delegating and cheating submissions.

    python -m tools.corpus [--assignment A ...] [--out VERDICTS.md] [--workers N]

Every file `tests/corpus/<A>/<variant>.py` (format in tests/corpus/README.md) replaces one
solution cell of the fully solved notebook. The variants are graded like any class, through
`python -m grader autograde` into a temporary workspace, and each gets a verdict:

| verdict in the file | it passes when                                                      |
|---------------------|---------------------------------------------------------------------|
| `wrong`             | it loses points on at least one of its own exercise's test cells     |
| `correct`           | it keeps full marks on every test cell of the notebook               |
| `delegates`         | it scores 0 on every test cell of its own exercise                   |
| `cheats`            | it scores no more than `# baseline:` (the same code without the trick) or, without one, loses points on its exercise |

The reference (every solution filled in) is graded twice and must keep full marks with identical
per-cell scores both times (determinism). The result is
a Markdown table (variant, exercise, score, verdict) for a reader to see the autograder's
quality at a glance.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.settings import REPO_ROOT, SOLUTIONS_DIR
from grader.release import release, write_notebook
from grader.sample import solved, without_markers

CORPUS_DIR = REPO_ROOT / "tests" / "corpus"
REFERENCE = "reference"
AGAIN = "reference-again"  # the same notebook graded twice must get identical scores
HEADER = re.compile(r"^# (exercise|verdict|baseline):\s*(\S+)\s*$", re.M)


@dataclass(frozen=True)
class Variant:
    assignment: str
    name: str
    exercise: str
    verdict: str
    description: str
    source: str
    baseline: str | None = None

    @property
    def student(self) -> str:
        return f"{self.assignment}.{self.name}"


def load_variant(path: Path) -> Variant:
    """Read one corpus file; raise ValueError naming the file if its header is incomplete."""
    text = path.read_text()
    meta = dict(HEADER.findall(text))
    doc = re.match(r'\s*"""(.+?)"""', text, re.S)
    missing = [key for key in ("exercise", "verdict") if key not in meta] + ([] if doc else ["docstring"])
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)} (see tests/corpus/README.md)")
    if meta["verdict"] not in ("wrong", "correct", "delegates", "cheats"):
        raise ValueError(f"{path}: unknown verdict {meta['verdict']!r}")
    return Variant(path.parent.name, path.stem, meta["exercise"], meta["verdict"],
                   " ".join(doc.group(1).split()), text, meta.get("baseline"))


def load_corpus(assignments: list[str] | None = None) -> list[Variant]:
    folders = sorted(p for p in CORPUS_DIR.iterdir() if p.is_dir() and (not assignments or p.name in assignments))
    return [load_variant(path) for folder in folders for path in sorted(folder.glob("*.py"))]


def _write(nb: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_notebook(nb, path)


def build_submissions(variants: list[Variant], out_dir: Path) -> None:
    """Write one submission per variant, plus the reference per assignment, in nbgrader's layout."""
    assignments = sorted({v.assignment for v in variants})
    with tempfile.TemporaryDirectory(prefix="corpus-release-") as tmp:
        course = Path(tmp) / "course"
        release(assignments, source_dir=SOLUTIONS_DIR, course_dir=course, bundle_path=None, say=lambda _: None)
        for assignment in assignments:
            name = f"{assignment}.ipynb"
            reference = solved(nbformat.read(course / assignment / name, as_version=4),
                               nbformat.read(SOLUTIONS_DIR / assignment / name, as_version=4))
            exercises = {c.metadata.get("nbgrader", {}).get("grade_id") for c in reference.cells
                         if c.metadata.get("nbgrader", {}).get("solution")}
            for student in (REFERENCE, AGAIN):
                _write(reference, out_dir / f"{assignment}.{student}" / assignment / name)
            for variant in (v for v in variants if v.assignment == assignment):
                if variant.exercise not in exercises:
                    raise ValueError(f"{CORPUS_DIR / assignment / variant.name}.py: {assignment} has no "
                                     f"solution cell {variant.exercise!r} (it has: {', '.join(sorted(exercises))})")
                nb = copy.deepcopy(reference)
                for cell in nb.cells:
                    if cell.metadata.get("nbgrader", {}).get("grade_id") == variant.exercise:
                        cell.source = without_markers(variant.source)
                _write(nb, out_dir / variant.student / assignment / name)


def grade(submissions: Path, workspace: Path, out: Path, workers: int) -> dict[str, dict[str, tuple[float, float]]]:
    """Grade with the real command line; return {student: {grade_id: (score, max_score)}}."""
    command = [sys.executable, "-m", "grader"]
    subprocess.run([*command, "autograde", str(submissions), "--workspace", str(workspace),
                    "--workers", str(workers), "--expose-checks"], check=False)
    subprocess.run([*command, "report", "--workspace", str(workspace), "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    cells: dict[str, dict[str, tuple[float, float]]] = {}
    with open(out / "cells.csv", newline="") as f:
        for row in csv.DictReader(f):
            cells.setdefault(row["student_id"], {})[row["grade_id"]] = (float(row["score"]), float(row["max_score"]))
    return cells


@dataclass(frozen=True)
class Verdict:
    variant: Variant
    own: tuple[float, float]      # score on the exercise's own test cells
    total: tuple[float, float]    # score on the whole notebook
    ok: bool
    reason: str


def judge(variants: list[Variant], cells: dict[str, dict[str, tuple[float, float]]]) -> list[Verdict]:
    verdicts = []
    by_name = {(v.assignment, v.name): v for v in variants}
    for v in variants:
        grades = cells.get(v.student)
        if grades is None:
            verdicts.append(Verdict(v, (0, 0), (0, 0), False, "was not graded (see the autograde summary)"))
            continue
        own_cells = {g: s for g, s in grades.items() if g.startswith(f"test_{v.exercise}")}
        own = (sum(s for s, _ in own_cells.values()), sum(m for _, m in own_cells.values()))
        total = (sum(s for s, _ in grades.values()), sum(m for _, m in grades.values()))
        if not own_cells and v.verdict != "correct":
            ok, reason = False, f"no test cell named test_{v.exercise}*"
        elif v.verdict == "wrong":
            ok, reason = own[0] < own[1], "loses points" if own[0] < own[1] else "NOT caught: full marks on its exercise"
        elif v.verdict == "correct":
            ok, reason = total[0] == total[1], "full marks" if total[0] == total[1] else "NOT full marks"
        elif v.verdict == "delegates":
            ok, reason = own[0] == 0, "scores 0" if own[0] == 0 else "NOT refused: scores points"
        else:  # cheats
            base = by_name.get((v.assignment, v.baseline)) if v.baseline else None
            if base is not None and base.student in cells:
                base_total = sum(s for s, _ in cells[base.student].values())
                ok = total[0] <= base_total
                reason = f"no more than {base.name}" if ok else f"GAINS over {base.name} ({base_total:g})"
            else:
                ok, reason = own[0] < own[1], "gains nothing" if own[0] < own[1] else "NOT caught"
        verdicts.append(Verdict(v, own, total, ok, reason))
    return verdicts


def markdown(verdicts: list[Verdict], references: dict[str, tuple[float, float]], seconds: float,
             unstable: list[str]) -> str:
    lines = ["# Autograder quality: the corpus verdicts", "",
             f"Generated by `python -m tools.corpus`; grading took {seconds:.0f} s.", ""]
    for kind in ("wrong", "correct", "delegates", "cheats"):
        group = [v for v in verdicts if v.variant.verdict == kind]
        if group:
            passed = sum(v.ok for v in group)
            lines.append(f"- `{kind}`: {passed}/{len(group)} as expected ({100 * passed / len(group):.0f} %)")
    for assignment, (score, max_score) in sorted(references.items()):
        lines.append(f"- reference `{assignment}`: {score:g}/{max_score:g}, graded twice: "
                     + ("DIFFERENT scores" if assignment in unstable else "identical scores"))
    lines += ["", "| variant | exercise | score on its tests | notebook score | expected | verdict | what it does |",
              "|---|---|---|---|---|---|---|"]
    for v in verdicts:
        mark = "ok" if v.ok else "**FAIL**"
        lines.append(f"| {v.variant.assignment}/{v.variant.name} | `{v.variant.exercise}` | {v.own[0]:g}/{v.own[1]:g} "
                     f"| {v.total[0]:g}/{v.total[1]:g} | {v.variant.verdict} | {mark}: {v.reason} | {v.variant.description} |")
    return "\n".join(lines) + "\n"


def nondeterministic(cells: dict[str, dict[str, tuple[float, float]]]) -> list[str]:
    """Assignments whose reference got different per-cell scores in its two gradings."""
    assignments = {student.rpartition(".")[0] for student in cells if student.endswith(f".{REFERENCE}")}
    return sorted(a for a in assignments if cells.get(f"{a}.{REFERENCE}") != cells.get(f"{a}.{AGAIN}"))


def run(assignments: list[str] | None, workers: int, work_dir: Path) -> tuple[list[Verdict], dict, float, list[str]]:
    """Grade the corpus; return verdicts, reference scores, grading seconds and nondeterministic assignments."""
    variants = load_corpus(assignments)
    submissions = work_dir / "submissions"
    build_submissions(variants, submissions)
    start = time.monotonic()
    cells = grade(submissions, work_dir / "workspace", work_dir / "report", workers)
    seconds = time.monotonic() - start
    references = {}
    for assignment in sorted({v.assignment for v in variants}):
        grades = cells.get(f"{assignment}.{REFERENCE}", {})
        references[assignment] = (sum(s for s, _ in grades.values()), sum(m for _, m in grades.values()))
    return judge(variants, cells), references, seconds, nondeterministic(cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    parser.add_argument("--out", type=Path, help="write the Markdown verdict table here (default: print it)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="grader-corpus-") as tmp:
        verdicts, references, seconds, unstable = run(args.assignment, args.workers, Path(tmp))
    table = markdown(verdicts, references, seconds, unstable)
    if args.out:
        args.out.write_text(table)
    else:
        print(table)
    bad = [v for v in verdicts if not v.ok] + [a for a, (s, m) in references.items() if s != m or m == 0] + unstable
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
