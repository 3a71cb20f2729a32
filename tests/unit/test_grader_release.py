"""`python -m grader release`: deterministic, complete, and leaks nothing private.

Runs on the toy fixture assignment (always) and on every real assignment in solutions/
(the `released` fixture, tests/conftest.py). No kernel runs here: see tests/e2e/test_released_notebooks.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.intake import find_assignments
from grader.settings import COURSE_DIR, KERNEL_NAME, REPO_ROOT, GraderError
from grader.cli import main
from grader.release import BUNDLE_PREFIX, release

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOY_SOURCE = FIXTURES / "solutions"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_release_is_deterministic(released):
    """A second release over the first changes no byte of course/ or of the bundle."""
    source, course, bundle = released
    before, bundle_before = _tree(course), bundle.read_bytes()
    release(source_dir=source, course_dir=course, bundle_path=bundle, say=lambda _: None)
    assert _tree(course) == before
    assert bundle.read_bytes() == bundle_before


def test_committed_course_is_up_to_date(real_release):
    """`python -m grader release` in the repository would leave no diff in course/."""
    _, course, _ = real_release
    stale = [
        f"course/{name}" for name, content in _tree(course).items()
        if not (COURSE_DIR / name).is_file() or (COURSE_DIR / name).read_bytes() != content
    ]
    assert not stale, f"course/ is out of date with solutions/ ({', '.join(stale)}): run `python -m grader release`"


def _blocks(text: str, begin: str, end: str) -> list[str]:
    return re.findall(rf"{re.escape(begin)}\n(.*?){re.escape(end)}", text, flags=re.S)


def _private_lines(source_nb: nbformat.NotebookNode) -> set[str]:
    """Lines that occur only inside solution or hidden-test blocks of the source notebook."""
    private, public = set(), set()
    for cell in source_nb.cells:
        text = cell.source
        inside = set()
        for begin, end in [("### BEGIN SOLUTION", "### END SOLUTION"), ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")]:
            for block in _blocks(text, begin, end):
                inside |= {line.strip() for line in block.splitlines() if line.strip()}
        private |= inside
        outside = text
        for begin, end in [("### BEGIN SOLUTION", "### END SOLUTION"), ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")]:
            outside = re.sub(rf"{re.escape(begin)}.*?{re.escape(end)}", "", outside, flags=re.S)
        public |= {line.strip() for line in outside.splitlines() if line.strip()}
    return {line for line in private - public if len(line) > 3}


def _assert_nothing_private(released_text: str, source_nb: nbformat.NotebookNode, where: str) -> None:
    for marker in ["BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "grader.checks"]:
        assert marker not in released_text, f"{where} contains {marker!r}"
    released_lines = {line.strip() for line in released_text.splitlines()}
    leaked = sorted(_private_lines(source_nb) & released_lines)
    assert not leaked, f"{where} contains solution or hidden-test lines: {leaked[:5]}"


def test_no_solution_or_hidden_test_in_course_or_bundle(released):
    source, course, bundle = released
    assignments = find_assignments(source)
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        for assignment in assignments:
            source_nb = nbformat.read(source / assignment / f"{assignment}.ipynb", as_version=4)
            released_nb = nbformat.read(course / assignment / f"{assignment}.ipynb", as_version=4)
            text = "\n".join(cell.source for cell in released_nb.cells)
            _assert_nothing_private(text, source_nb, f"course/{assignment}")
            member = f"{BUNDLE_PREFIX}/course/{assignment}/{assignment}.ipynb"
            assert member in names
            bundled = nbformat.reads(archive.read(member).decode(), as_version=4)
            _assert_nothing_private("\n".join(c.source for c in bundled.cells), source_nb, f"bundle {member}")
        for name in names:
            assert not name.endswith(".pyc") and "__pycache__" not in name
            for private in ["solutions/", "grader/", "tests/", "workspace/", "sample_class/"]:
                assert f"{BUNDLE_PREFIX}/{private}" not in name, f"the student bundle contains {name}"
            content = archive.read(name)
            assert b"### BEGIN HIDDEN TESTS" not in content and b"### BEGIN SOLUTION" not in content, name


def test_bundle_holds_what_a_student_needs(released):
    """The bundle is a project of its own: its Makefile and README are the students' (every file a
    `make` target needs is in it), and it says nothing of tools it does not ship."""
    _, _, bundle = released
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        read = lambda name: archive.read(f"{BUNDLE_PREFIX}/{name}").decode()
        makefile, readme = read("Makefile"), read("README.md")
        setup_mk = read("lab/course.mk")
    for required in ["pyproject.toml", "requirements.txt", "environment.yml", "Makefile", "README.md",
                     "lab/course.mk", "lab/student_nbgrader_config.py", "lib/transformer_reference/__init__.py",
                     "lib/course_check/__main__.py"]:
        assert f"{BUNDLE_PREFIX}/{required}" in names
    assert makefile == (REPO_ROOT / "lab" / "student.mk").read_text()
    assert readme == (REPO_ROOT / "lab" / "student_README.md").read_text()
    # Every file a recipe's prerequisites name is shipped (the bundle once stopped at
    # "No rule to make target 'lab/student_nbgrader_config.py'").
    for text in (makefile, setup_mk):
        for match in re.finditer(r"^include (\S+)|^\$\(STAMP\):(.*)$", text, flags=re.M):
            for needed in (match.group(1) or match.group(2)).split():
                assert f"{BUNDLE_PREFIX}/{needed}" in names, f"the bundle's make needs {needed}"
    for instructor_only in ["python -m grader", "instructor-lab", "solutions/", "make test", "make site", "tools/",
                            "benchmarks/", "formgrader"]:
        assert instructor_only not in readme and instructor_only not in makefile, instructor_only


def test_bundle_keeps_true_file_dates(real_release):
    """Each member carries its file's own date (JupyterLab showed 1980's as "46y ago"), and a
    release that changes no notebook keeps the notebooks' dates."""
    _, course, bundle = real_release
    with zipfile.ZipFile(bundle) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    notebook = course / "01_embeddings" / "01_embeddings.ipynb"
    stamped = infos[f"{BUNDLE_PREFIX}/course/01_embeddings/01_embeddings.ipynb"].date_time
    assert stamped[0] > 1980
    assert abs(time.mktime((*stamped, 0, 0, -1)) - notebook.stat().st_mtime) <= 2  # zip keeps 2 s steps


def test_released_notebooks_keep_kernel_and_lose_outputs(released):
    source, course, _ = released
    for assignment in find_assignments(source):
        path = course / assignment / f"{assignment}.ipynb"
        raw = json.loads(path.read_text())
        assert raw["metadata"]["kernelspec"]["name"] == KERNEL_NAME
        for cell in raw["cells"]:
            assert cell.get("id"), f"{path}: a cell without an id"
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path
        assert path.read_text().endswith("}\n")


def test_release_refuses_an_unknown_assignment(tmp_path):
    with pytest.raises(GraderError, match="no assignment '99_nope'.*00_toy"):
        release(["99_nope"], source_dir=TOY_SOURCE, course_dir=tmp_path / "course", bundle_path=None)
    assert not (tmp_path / "course").exists()


def test_release_refuses_a_notebook_with_another_kernel(tmp_path):
    source = tmp_path / "solutions"
    (source / "00_toy").mkdir(parents=True)
    nb = json.loads((TOY_SOURCE / "00_toy" / "00_toy.ipynb").read_text())
    nb["metadata"]["kernelspec"]["name"] = "python3"
    (source / "00_toy" / "00_toy.ipynb").write_text(json.dumps(nb))
    with pytest.raises(GraderError, match="kernelspec name is 'python3'.*transformer-course"):
        release(source_dir=source, course_dir=tmp_path / "course", bundle_path=None)


def test_release_command_line_names_the_problem_in_one_line(tmp_path, capsys):
    assert main(["release", "--assignment", "nope", "--source", str(TOY_SOURCE),
                 "--course", str(tmp_path / "course"), "--no-bundle"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == [f"error: no assignment 'nope' in {TOY_SOURCE} (the course has: 00_toy)"]
    assert not (tmp_path / "course").exists()


def test_python_dash_m_grader_runs():
    run = subprocess.run([sys.executable, "-m", "grader", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "autograde" in run.stdout and "release" in run.stdout
