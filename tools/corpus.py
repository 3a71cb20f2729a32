"""Test the tests: grade the corpus of wrong, correct, delegating and cheating submissions.

    python -m tools.corpus [--assignment A ...] [--out VERDICTS.md] [--workers N] [--all-in-kernels]

Every file `tests/corpus/<A>/<variant>.py` (format in tests/corpus/README.md) replaces one
solution cell of the fully solved notebook, and each variant gets a verdict:

| verdict in the file | it passes when                                                      |
|---------------------|---------------------------------------------------------------------|
| `wrong`             | it loses points on at least one of its own exercise's test cells     |
| `correct`           | it keeps full marks on every test cell of the notebook               |
| `delegates`         | it scores 0 on every test cell of its own exercise                   |
| `review`            | the same (0 points: the text does not show what it runs); the kernel grading flags it for review |
| `cheats`            | it scores no more than `# baseline:` (the same code without the trick) or, without one, loses points on its exercise |

Two graders, one verdict code path. Every notebook is judged in-process (tools/inprocess.py: the
grader's own trusted-verdict code, minus kernel start, Jupyter messaging and the sandbox), which
takes seconds per notebook; the variants of one exercise are forked from one run of the reference's
cells before it (inprocess.run_variants), sampled ones included. A sample also goes through the
real pipeline, `python -m grader autograde` into a temporary workspace: every cheat and its
baseline (a cheat is judged by its kernel grades only: in-process nothing separates it from the
judge), and per assignment the reference and one other variant (their verdicts taking turns). Each
sampled honest notebook must get the same per-cell scores from both; a disagreement fails the run.
`--all-in-kernels` sends every notebook through the real pipeline (slow: ~300 kernels).

The reference (every solution filled in) is judged twice and must keep full marks with identical
per-cell scores (determinism); the blank release (what a student starts from) must score 0. The
result is a Markdown table (variant, exercise, score, verdict) for a reader to see the
autograder's quality at a glance.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import re
import shutil
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
from tools import inprocess

CORPUS_DIR = REPO_ROOT / "tests" / "corpus"
REFERENCE = "reference"
AGAIN = "reference-again"  # the same notebook graded twice must get identical scores
BLANK = "blank"  # the released notebook, untouched
VERDICTS = ("wrong", "correct", "delegates", "review", "cheats")
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
    if meta["verdict"] not in VERDICTS:
        raise ValueError(f"{path}: unknown verdict {meta['verdict']!r}")
    magic = re.search(r"^%%.*\n", text, re.M)
    if magic:  # a cell magic must open its cell: it goes before the header
        text = magic.group(0) + text[:magic.start()] + text[magic.end():]
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
            _write(nbformat.read(course / assignment / name, as_version=4), out_dir / f"{assignment}.{BLANK}" / assignment / name)
            for variant in (v for v in variants if v.assignment == assignment):
                if variant.exercise not in exercises:
                    raise ValueError(f"{CORPUS_DIR / assignment / variant.name}.py: {assignment} has no "
                                     f"solution cell {variant.exercise!r} (it has: {', '.join(sorted(exercises))})")
                nb = copy.deepcopy(reference)
                for cell in nb.cells:
                    if cell.metadata.get("nbgrader", {}).get("grade_id") == variant.exercise:
                        cell.source = without_markers(variant.source)
                _write(nb, out_dir / variant.student / assignment / name)


Cells = dict[str, dict[str, tuple[float, float]]]  # student -> grade id -> (score, max score)


def grade(submissions: Path, workspace: Path, out: Path, workers: int) -> Cells:
    """Grade with the real command line."""
    command = [sys.executable, "-m", "grader"]
    subprocess.run([*command, "autograde", str(submissions), "--workspace", str(workspace),
                    "--workers", str(workers)], check=False)
    subprocess.run([*command, "report", "--workspace", str(workspace), "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    cells: Cells = {}
    with open(out / "cells.csv", newline="") as f:
        for row in csv.DictReader(f):
            cells.setdefault(row["student_id"], {})[row["grade_id"]] = (float(row["score"]), float(row["max_score"]))
    return cells


def judge_in_process(submissions: Path, students: dict[str, str | None], work_dir: Path, workers: int,
                     variants: list[Variant]) -> tuple[Cells, dict[str, str]]:
    """Judge these students' submissions in-process, each on the test cells its value names (None:
    all); return their cells and, per student, why it has none.

    A variant differs from its assignment's reference in its exercise's cell only: the variants of
    one exercise are judged together (inprocess.run_variants: the reference's cells before that
    one run once for all of them); the other notebooks (reference, blank release) one by one."""
    by_student = {v.student: v for v in variants}
    sources: dict[str, nbformat.NotebookNode] = {}
    bases: dict[str, tuple[Path, dict[str, int]]] = {}  # assignment -> its reference with tests, exercise cells
    paths: dict[str, str] = {}  # notebook judged on its own -> student
    groups: dict[str, dict] = {}
    for folder in (submissions / student for student in students):
        (notebook,) = folder.glob("*/*.ipynb")
        assignment = notebook.parent.name
        if assignment not in sources:
            sources[assignment] = nbformat.read(SOLUTIONS_DIR / assignment / notebook.name, as_version=4)
        variant = by_student.get(folder.name)
        if variant is None:
            path = work_dir / f"{folder.name}.ipynb"
            nbformat.write(inprocess.with_tests(nbformat.read(notebook, as_version=4), sources[assignment]), path)
            paths[str(path)] = folder.name
            continue
        if assignment not in bases:
            reference = submissions / f"{assignment}.{REFERENCE}" / assignment / notebook.name
            base = inprocess.with_tests(nbformat.read(reference, as_version=4), sources[assignment])
            nbformat.write(base, work_dir / f"{assignment}.base.ipynb")
            bases[assignment] = (work_dir / f"{assignment}.base.ipynb", {
                c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(base.cells)
                if c.metadata.get("nbgrader", {}).get("solution")})
        base_path, exercises = bases[assignment]
        group = groups.setdefault(f"{assignment}/{variant.exercise}", {"base": str(base_path), "variants": {}})
        group["variants"][folder.name] = [exercises[variant.exercise], without_markers(variant.source), students[folder.name]]
    results = inprocess.run_in_subprocess({Path(p): students[student] for p, student in paths.items()}, workers,
                                          variants=groups)
    cells: Cells = {}
    failures: dict[str, str] = {}
    keys = {student: path for path, student in paths.items()}
    for student in students:
        result = results.get(keys.get(student, student), "no result")
        if isinstance(result, str):
            failures[student] = result
        else:
            cells[student] = {c.grade_id: (c.score, c.points) for c in result}
    return cells, failures


def kernel_sample(variants: list[Variant]) -> set[str]:
    """Students graded through real kernels: every cheat and its baseline, and per assignment the
    reference and one other variant, their verdicts taking turns (wrong, correct, delegates), so
    every notebook and every verdict is compared with the real pipeline."""
    sample = set()
    for v in variants:
        if v.verdict == "cheats":
            sample.add(v.student)
            if v.baseline:
                sample.add(f"{v.assignment}.{v.baseline}")
    kinds = ("wrong", "correct", "delegates")
    for turn, assignment in enumerate(sorted({v.assignment for v in variants})):
        sample.add(f"{assignment}.{REFERENCE}")
        honest = [v for v in variants if v.assignment == assignment and v.verdict in kinds]
        pick = min(honest, key=lambda v: ((kinds.index(v.verdict) - turn) % len(kinds), v.name), default=None)
        if pick is not None:
            sample.add(pick.student)
    return sample


@dataclass(frozen=True)
class Verdict:
    variant: Variant
    own: tuple[float, float]      # score on the exercise's own test cells
    total: tuple[float, float] | None  # score on the whole notebook (None: only its own cells were judged)
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
        total = (sum(s for s, _ in grades.values()), sum(m for _, m in grades.values())) if grades != own_cells else None
        if not own_cells and v.verdict != "correct":
            ok, reason = False, f"no test cell named test_{v.exercise}*"
        elif v.verdict == "wrong":
            ok, reason = own[0] < own[1], "loses points" if own[0] < own[1] else "NOT caught: full marks on its exercise"
        elif v.verdict == "correct":
            ok = total is not None and total[0] == total[1]
            reason = "full marks" if ok else "NOT full marks"
        elif v.verdict in ("delegates", "review"):
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


def markdown(result: "Result") -> str:
    lines = ["# Autograder quality: the corpus verdicts", "",
             f"Generated by `python -m tools.corpus`; judging took {result.seconds:.0f} s "
             f"({result.in_kernels} notebooks also through real kernels).", ""]
    for kind in VERDICTS:
        group = [v for v in result.verdicts if v.variant.verdict == kind]
        if group:
            passed = sum(v.ok for v in group)
            lines.append(f"- `{kind}`: {passed}/{len(group)} as expected ({100 * passed / len(group):.0f} %)")
    for assignment, (score, max_score) in sorted(result.references.items()):
        blank = result.blanks[assignment]
        lines.append(f"- reference `{assignment}`: {score:g}/{max_score:g}, judged twice: "
                     + ("DIFFERENT scores" if assignment in result.unstable else "identical scores")
                     + f"; blank release {blank[0]:g}/{blank[1]:g}")
    lines.append(f"- kernels and the in-process judge: "
                 + ("agree on every sampled notebook" if not result.disagreements else "DISAGREE on "
                    + "; ".join(result.disagreements)))
    lines += ["", "| variant | exercise | score on its tests | notebook score | expected | verdict | what it does |",
              "|---|---|---|---|---|---|---|"]
    for v in result.verdicts:
        mark = "ok" if v.ok else "**FAIL**"
        lines.append(f"| {v.variant.assignment}/{v.variant.name} | `{v.variant.exercise}` | {v.own[0]:g}/{v.own[1]:g} "
                     f"| {f'{v.total[0]:g}/{v.total[1]:g}' if v.total else 'only its own tests judged'} | {v.variant.verdict} | {mark}: {v.reason} | {v.variant.description} |")
    return "\n".join(lines) + "\n"


def nondeterministic(cells: Cells) -> list[str]:
    """Assignments whose reference got different per-cell scores in its two gradings."""
    assignments = {student.rpartition(".")[0] for student in cells if student.endswith(f".{REFERENCE}")}
    return sorted(a for a in assignments if cells.get(f"{a}.{REFERENCE}") != cells.get(f"{a}.{AGAIN}"))


@dataclass
class Result:
    verdicts: list[Verdict]
    references: dict[str, tuple[float, float]]  # assignment -> the reference's (score, max score)
    blanks: dict[str, tuple[float, float]]      # assignment -> the blank release's (score, max score)
    unstable: list[str]                         # assignments whose reference got different scores twice
    disagreements: list[str]                    # students the kernels and the in-process judge scored differently
    in_kernels: int                             # how many notebooks went through real kernels
    seconds: float


def run(assignments: list[str] | None, workers: int, work_dir: Path, all_in_kernels: bool = False) -> Result:
    """Judge the corpus (module docstring)."""
    variants = load_corpus(assignments)
    submissions = work_dir / "submissions"
    build_submissions(variants, submissions)
    start = time.monotonic()
    students = sorted(p.name for p in submissions.iterdir())
    cheats = {v.student for v in variants if v.verdict == "cheats"}  # judged by the real pipeline only
    sample = set(students) if all_in_kernels else kernel_sample(variants)
    kernel_dir = work_dir / "kernel-submissions"
    for student in sorted(sample):
        shutil.copytree(submissions / student, kernel_dir / student)
    in_process_dir = work_dir / "in-process"
    in_process_dir.mkdir()
    # A wrong or delegating variant's verdict reads only its own exercise's cells: judge just those
    # (the sampled ones in full, to compare with their kernel grades).
    own = {v.student: f"test_{v.exercise}" for v in variants if v.verdict in ("wrong", "delegates", "review")}
    jobs = {s: None if s in sample else own.get(s) for s in students if s not in cheats}
    cells, failures = judge_in_process(submissions, jobs, in_process_dir, workers, variants)
    kernel_cells = grade(kernel_dir, work_dir / "workspace", work_dir / "report", workers)
    disagreements = []
    for student in sorted(sample - cheats):
        if kernel_cells.get(student) != cells.get(student):
            disagreements.append(f"{student}: kernels {kernel_cells.get(student)}, in-process "
                                 f"{cells.get(student) or failures.get(student)}")
    for student in cheats:
        cells[student] = kernel_cells.get(student)
    cells = {student: grades for student, grades in cells.items() if grades is not None}
    seconds = time.monotonic() - start

    def total(student: str) -> tuple[float, float]:
        grades = cells.get(student, {})
        return sum(s for s, _ in grades.values()), sum(m for _, m in grades.values())

    assignments = sorted({v.assignment for v in variants})
    return Result(judge(variants, cells), {a: total(f"{a}.{REFERENCE}") for a in assignments},
                  {a: total(f"{a}.{BLANK}") for a in assignments}, nondeterministic(cells), disagreements,
                  len(sample), seconds)


def problems(result: Result) -> list[str]:
    """Everything that makes the run fail, one line each (empty: the autograder is as good as its corpus says)."""
    bad = [f"{v.variant.assignment}/{v.variant.name}: {v.reason}" for v in result.verdicts if not v.ok]
    bad += [f"{a}: reference {s:g}/{m:g}" for a, (s, m) in result.references.items() if s != m or m == 0]
    bad += [f"{a}: blank release {s:g}/{m:g}" for a, (s, m) in result.blanks.items()
            if s != 0 or m != result.references[a][1]]
    bad += [f"{a}: the reference judged twice got different scores" for a in result.unstable]
    return bad + [f"disagreement: {d}" for d in result.disagreements]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    parser.add_argument("--out", type=Path, help="write the Markdown verdict table here (default: print it)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--all-in-kernels", action="store_true",
                        help="grade every notebook through real kernels too, not only the sample")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="grader-corpus-") as tmp:
        result = run(args.assignment, args.workers, Path(tmp), all_in_kernels=args.all_in_kernels)
    table = markdown(result)
    if args.out:
        args.out.write_text(table)
    else:
        print(table)
    return 1 if problems(result) else 0


if __name__ == "__main__":
    sys.exit(main())
