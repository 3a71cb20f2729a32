"""End to end with the real nbgrader, real kernels and a real SQLite gradebook in a tmp workspace.

- the toy fixture assignment through the command line: sample class → autograde → report → feedback;
- bad input next to good input; re-grading only what changed; --workers 2;
- the first real assignment of solutions/ through the command line, as an instructor would.

The toy's hidden tests import `toy_checks` from tests/fixtures/kernel_path, which the tests put on
the grading kernel's PYTHONPATH (the real notebooks import `grader.checks.<module>` instead).
"""

from __future__ import annotations

import ast
import csv
import html
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde

from grader.autograde import autograde
from grader.cli import main
from grader.gradebook import submission_score
from grader.intake import find_assignments
from grader.release import write_notebook
from grader.report import CELLS_HEADER, GRADES_HEADER
from grader.runner import nbgrader_config, run_converter
from grader.settings import REPO_ROOT, SOLUTIONS_DIR
from grader.sample import build_sample_class
from grader.sandbox import Sandbox
from grader.workspace import Workspace, environment, kernel_environment

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOY_SOURCE = FIXTURES / "solutions"
TOY = "00_toy"
KERNEL_PATH = FIXTURES / "kernel_path"
CHECKS = sorted((REPO_ROOT / "grader" / "checks").glob("*.py"))
REAL = find_assignments(SOLUTIONS_DIR) if SOLUTIONS_DIR.is_dir() else []
# TEMPORARY (until hidden checks run outside the kernel): the hidden tests import their checks in the kernel.
CHECKS_VISIBLE = Sandbox()


@pytest.fixture
def toy_kernel_path(monkeypatch):
    """Let grading kernels started from this process import the toy's hidden checks."""
    monkeypatch.setenv("PYTHONPATH", str(KERNEL_PATH))


def cli(capsys, *args, check_rc: int | None = 0) -> SimpleNamespace:
    """`python -m grader ARGS`, run in this process (the kernels it starts see our environment)."""
    capsys.readouterr()
    returncode = main([str(arg) for arg in args])
    stdout, stderr = capsys.readouterr()
    if check_rc is not None:
        assert returncode == check_rc, f"exit {returncode}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    return SimpleNamespace(returncode=returncode, stdout=stdout, stderr=stderr)


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def scores(grades_csv: Path) -> dict[str, float]:
    rows = read_csv(grades_csv)
    assert rows[0] == GRADES_HEADER
    return {row[0]: (float(row[2]), float(row[3])) for row in rows[1:]}


def set_solution(path: Path, grade_id: str, source: str) -> None:
    nb = nbformat.read(path, as_version=4)
    [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    cell.source = source
    write_notebook(nb, path)


def html_text(page: Path) -> str:
    """The words a browser shows: no styles or scripts, tags removed, entities decoded, spaces collapsed."""
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"<(style|script)\b.*?</\1>", " ", text, flags=re.S | re.I)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return " ".join(text.split())


def function_body_lines(paths: list[Path], public_text: str = "") -> set[str]:
    """Every line of every function body (docstrings aside) in `paths`, unless it is also public."""
    public = " ".join(public_text.split())
    lines = set()
    for path in paths:
        source = path.read_text(encoding="utf-8")
        source_lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                    body = body[1:]
                for statement in body:
                    for line in source_lines[statement.lineno - 1 : statement.end_lineno]:
                        norm = " ".join(line.split())
                        if len(norm) >= 12 and norm not in public:
                            lines.add(norm)
    return lines


def assert_feedback_hides(pages: list[Path], private_lines: set[str]) -> None:
    assert private_lines, "nothing to look for"
    for page in pages:
        text = html_text(page)
        leaked = sorted(line for line in private_lines if line in text)
        assert not leaked, f"{page} shows grader code: {leaked[:5]}"
        for name in ["grader/checks", "toy_checks.py", "kernel_path"]:
            assert name not in text, f"{page} names {name}"


def test_toy_class_end_to_end(tmp_path, capsys, toy_kernel_path):
    """release → sample-class → autograde (2 workers) → report → feedback, all through the command line."""
    course, subs, ws, out = tmp_path / "course", tmp_path / "submitted", tmp_path / "ws", tmp_path / "report"
    cli(capsys, "release", "--source", TOY_SOURCE, "--course", course, "--bundle", tmp_path / "bundle.zip")
    assert (course / TOY / f"{TOY}.ipynb").is_file() and (tmp_path / "bundle.zip").is_file()
    cli(capsys, "sample-class", subs, "--source", TOY_SOURCE)
    assert (subs / "carol_blank" / TOY / f"{TOY}.ipynb").read_bytes() == (course / TOY / f"{TOY}.ipynb").read_bytes()
    # frank's double passes the visible assert (2 + 2 == 4) and fails the hidden check.
    frank = subs / "frank_wrong" / TOY / f"{TOY}.ipynb"
    frank.parent.mkdir(parents=True)
    shutil.copy(subs / "alice_correct" / TOY / f"{TOY}.ipynb", frank)
    set_solution(frank, "double", "def double(x):\n    return x + 2")
    # frank's square cell also probes the grading kernel: if the probe fails, square is undefined
    # and frank loses the 2 points of test_square_values.
    set_solution(frank, "square", (
        "import os, sys\n"
        "assert os.environ.get('NBGRADER_EXECUTION') == 'autograde', 'nbgrader sets NBGRADER_EXECUTION'\n"
        "assert sys.argv and os.environ['IPYTHONDIR'].endswith('ipython'), 'our IPython profile'\n"
        "def square(x):\n    return x * x"
    ))

    run = cli(capsys, "autograde", subs, "--workspace", ws, "--source", TOY_SOURCE, "--workers", 2,
              check_rc=1)
    assert "with 2 worker(s)" in run.stderr and "ETA" in run.stderr and "[5/5]" in run.stderr
    failures = run.stdout.split("could not grade 1:")[1].strip().splitlines()
    assert failures == [f"{subs}/dave_broken/{TOY}/{TOY}.ipynb: not a notebook: invalid JSON "
                        "(Unterminated string starting at, line 10 column 5)"]
    assert re.search(r"^bob_partial\s+1/3$", run.stdout, flags=re.M), run.stdout
    assert not (ws / "tasks").exists()  # the per-task gradebooks were merged and removed

    report = cli(capsys, "report", "--workspace", ws, "--out", out)
    assert re.search(r"^carol_blank\s+0/3$", report.stdout, flags=re.M)
    assert scores(out / "grades.csv") == {
        "alice_correct": (3, 3), "bob_partial": (1, 3), "carol_blank": (0, 3), "erin_warnings": (3, 3), "frank_wrong": (2, 3),
    }
    cells = read_csv(out / "cells.csv")
    assert cells[0] == CELLS_HEADER
    assert cells[1:3] == [["alice_correct", TOY, TOY, "test_double_values", "1", "1"],
                          ["alice_correct", TOY, TOY, "test_square_values", "2", "2"]]
    assert ["frank_wrong", TOY, TOY, "test_double_values", "0", "1"] in cells
    assert ["bob_partial", TOY, TOY, "test_square_values", "0", "2"] in cells
    assert len(cells) == 1 + 5 * 2
    summary = (out / "summary.html").read_text()
    assert summary.count("data:image/png;base64,") == 2 and "test_square_values" in summary

    feedback = cli(capsys, "feedback", "--workspace", ws)
    pages = sorted((ws / "feedback").glob(f"*/{TOY}/{TOY}.html"))
    assert [p.parent.parent.name for p in pages] == ["alice_correct", "bob_partial", "carol_blank", "erin_warnings", "frank_wrong"]
    assert str(pages[0]) in feedback.stdout
    frank_text = html_text(ws / "feedback" / "frank_wrong" / TOY / f"{TOY}.html")
    assert "AssertionError: double gave a wrong value for a hidden input: multiply by 2, do not add 2" in frank_text
    secrets = function_body_lines([KERNEL_PATH / "toy_checks.py"])
    assert "for secret_input in (7, -13, 1234.5):" in secrets
    # The checks ran in the grader's process: not even the instructor's graded copy holds their code.
    autograded = (ws / "autograded" / "frank_wrong" / TOY / f"{TOY}.ipynb").read_text()
    assert "secret_input" not in autograded
    assert_feedback_hides(pages, secrets | function_body_lines(CHECKS))

    # erin's solutions emit a UserWarning on stderr in every test cell and still got full marks.
    # The control: the same submission graded with nbgrader's default (IgnorePattern off) loses them.
    workspace = Workspace.at(ws)
    config = nbgrader_config(workspace.root, workspace.db_url)
    config.IgnorePattern.enabled = False
    with environment(**kernel_environment(workspace.ipython_dir)):
        result = run_converter(Autograde, config, assignment_id=TOY, student_id="erin_warnings")
    assert result.success, result.error
    assert submission_score(workspace.db_url, TOY, "erin_warnings") == (0, 3)
    stderr = [o["text"] for c in nbformat.read(ws / "autograded" / "erin_warnings" / TOY / f"{TOY}.ipynb", 4).cells
              for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert any("UserWarning: a harmless warning from a correct solution" in text for text in stderr)


def test_bad_input_is_named_and_the_rest_graded(tmp_path, toy_kernel_path):
    subs = tmp_path / "subs"
    build_sample_class(tmp_path / "sample", [TOY], source_dir=TOY_SOURCE, say=lambda _: None)
    correct = (tmp_path / "sample" / "alice_correct" / TOY / f"{TOY}.ipynb").read_bytes()
    partial = (tmp_path / "sample" / "bob_partial" / TOY / f"{TOY}.ipynb").read_bytes()

    def put(relative: str, content: bytes = correct) -> Path:
        path = subs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path

    put(f"good/{TOY}/{TOY}.ipynb")
    put(f"bad id/{TOY}/{TOY}.ipynb")
    put(f"zoë/{TOY}/{TOY}.ipynb")
    put("carl/99_nope/99_nope.ipynb")
    put(f"dora/{TOY}/{TOY}.ipynb", b'{"cells": "nope"}')
    put("eve/stray.ipynb")
    flat = put(f"hal_{TOY}.ipynb", partial)
    put(f"ivy_{TOY}.zip", b"PK not really")

    ws = Workspace.at(tmp_path / "ws")
    result = autograde(subs, ws, source_dir=TOY_SOURCE, sandbox=CHECKS_VISIBLE, progress=lambda _: None)
    assert {(g.student, g.score) for g in result.graded} == {("good", 3), ("hal", 1)}
    named = {Path(f.path).relative_to(subs).as_posix(): f.reason for f in result.failures}
    assert set(named) == {"bad id", "zoë", "carl/99_nope", f"dora/{TOY}/{TOY}.ipynb", "eve/stray.ipynb", f"ivy_{TOY}.zip"}
    with Gradebook(ws.db_url) as gb:
        assert sorted(s.id for s in gb.students) == ["good", "hal"]
        assert [a.name for a in gb.assignments] == [TOY]
    assert sorted(p.name for p in (ws.root / "submitted").iterdir()) == ["good", "hal"]

    # Only the changed submission is graded again; --force regrades the unchanged one too.
    flat.write_bytes(correct)
    again = autograde(subs, ws, source_dir=TOY_SOURCE, sandbox=CHECKS_VISIBLE, progress=lambda _: None)
    assert {(g.student, g.score, g.unchanged) for g in again.graded} == {("good", 3, True), ("hal", 3, False)}
    only_good = tmp_path / "only_good"
    shutil.copytree(subs / "good", only_good / "good")
    lines = []
    unchanged = autograde(only_good, ws, source_dir=TOY_SOURCE, sandbox=CHECKS_VISIBLE, progress=lines.append)
    assert [(g.student, g.unchanged) for g in unchanged.graded] == [("good", True)]
    assert lines == ["nothing to grade: 1 submission(s) unchanged since they were graded"]
    forced = autograde(only_good, ws, source_dir=TOY_SOURCE, sandbox=CHECKS_VISIBLE, force=True, progress=lambda _: None)
    assert [(g.student, g.unchanged) for g in forced.graded] == [("good", False)] and not forced.failures
    assert sorted(json.loads(ws.hashes.read_text())) == [f"good/{TOY}", f"hal/{TOY}"]


def _corpus_wrong_notebook(alice: Path, assignment: str, out: Path) -> bool:
    """alice's notebook with, per exercise, the first `wrong_*` variant of tests/corpus (if any)."""
    corpus = REPO_ROOT / "tests" / "corpus" / assignment
    variants = {}
    for path in sorted(corpus.glob("wrong_*.py")):
        exercise = re.search(r"^# exercise: (\S+)", path.read_text(), flags=re.M)
        if exercise:
            variants.setdefault(exercise.group(1), path.read_text())
    if not variants:
        return False
    out.parent.mkdir(parents=True)
    shutil.copy(alice, out)
    nb = nbformat.read(out, as_version=4)
    ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
    for exercise, text in variants.items():
        if exercise in ids:
            set_solution(out, exercise, text)
    return True


@pytest.mark.skipif(not REAL, reason="no assignments in solutions/ yet")
def test_real_sample_class_end_to_end(tmp_path, capsys):
    """The README's instructor walk-through on the first real assignment."""
    assignment = REAL[0]
    subs, ws, out = tmp_path / "submitted", tmp_path / "ws", tmp_path / "report"
    cli(capsys, "sample-class", subs, "--assignment", assignment)
    name = f"{assignment}.ipynb"
    has_wrong = _corpus_wrong_notebook(subs / "alice_correct" / assignment / name, assignment,
                                       subs / "frank_wrong" / assignment / name)

    run = cli(capsys, "autograde", subs, "--workspace", ws, check_rc=1)
    assert f"dave_broken/{assignment}/{name}: not a notebook" in run.stdout
    cli(capsys, "report", "--workspace", ws, "--out", out)
    got = scores(out / "grades.csv")
    full = got["alice_correct"][1]
    assert full > 0
    assert got["alice_correct"] == (full, full), "the solutions must get full marks"
    assert got["erin_warnings"] == (full, full), "warnings on stderr must not cost points"
    assert got["carol_blank"] == (0, full), "the released notebook must score 0"
    assert 0 < got["bob_partial"][0] < full
    assert "dave_broken" not in got
    if has_wrong:
        assert got["frank_wrong"][0] < full

    cli(capsys, "feedback", "--workspace", ws)
    pages = sorted((ws / "feedback").glob(f"*/{assignment}/{assignment}.html"))
    assert len(pages) == len(got)
    public = "\n".join(c.source for c in nbformat.read(SOLUTIONS_DIR / assignment / name, as_version=4).cells)
    assert_feedback_hides(pages, function_body_lines(CHECKS, public))
