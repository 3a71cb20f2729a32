"""`python -m grader similarity`: planted copies are found, independent solutions are not.

The class: for three exercises (attention, layer norm, positional encoding), the reference
solution and five solutions written independently in other styles (tests/fixtures/similarity/),
plus planted copies made here from some of them by `disguise`: every name the code binds renamed,
two independent statements swapped, comments rewritten. A disguised copy must reach the
threshold with its original; no two independent solutions may.
"""

from __future__ import annotations

import ast
import csv
import itertools
import random
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import similarity as sim
from grader.sample import without_markers
from grader.settings import COURSE_DIR, REPO_ROOT, SOLUTIONS_DIR

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "similarity"
EXERCISES = {  # exercise -> assignment
    "scaled_dot_product_attention": "02_attention",
    "layer_norm": "06_add_norm",
    "sinusoidal_positional_encoding": "01_embeddings",
}


def template(assignment: str, exercise: str) -> str:
    return sim.solution_cells(nbformat.read(COURSE_DIR / assignment / f"{assignment}.ipynb", as_version=4))[exercise]


def reference(assignment: str, exercise: str) -> str:
    source = nbformat.read(SOLUTIONS_DIR / assignment / f"{assignment}.ipynb", as_version=4)
    return without_markers(sim.solution_cells(source)[exercise])


def independent(exercise: str) -> dict[str, str]:
    """student -> source of every independent solution of `exercise`, the reference one included."""
    found = {f"ind_{p.stem}": p.read_text() for p in sorted((FIXTURES / exercise).glob("*.py"))}
    found["ind_reference"] = reference(EXERCISES[exercise], exercise)
    return found


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]):
        self.names = names

    def visit_Name(self, node):
        node.id = self.names.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.names.get(node.arg, node.arg)
        return node

    def visit_FunctionDef(self, node):
        self.generic_visit(node)
        if node.name in self.names:
            node.name = self.names[node.name]
        return node


def _names(node) -> tuple[set[str], set[str]]:
    """(names the statement binds, names it reads)."""
    stores, loads = set(), set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            (stores if isinstance(n.ctx, ast.Store) else loads).add(n.id)
    return stores, loads


def disguise(source: str, seed: int, *, extra: bool = True) -> str:
    """A planted copy: every bound name renamed, two adjacent independent statements of the
    function's body swapped (where there are any), every comment replaced by a new one and, with
    `extra`, a statement of its own added (a check on the first argument)."""
    rng = random.Random(seed)
    tree = ast.parse(source)
    bound = sim._bound_names(tree) - {tree.body[0].name}  # the exercise's name is fixed by the template
    _Rename({name: f"my_{name}_{rng.randint(10, 99)}" for name in bound}).visit(tree)
    body = tree.body[0].body
    swaps = []
    for i in range(len(body) - 1):
        (bind_a, read_a), (bind_b, read_b) = _names(body[i]), _names(body[i + 1])
        if not (bind_a & read_b or bind_b & read_a or bind_a & bind_b) and not isinstance(body[i + 1], ast.Return):
            swaps.append(i)
    if swaps:
        i = rng.choice(swaps)
        body[i], body[i + 1] = body[i + 1], body[i]
    if extra:
        first = tree.body[0].args.args[0].arg
        body.insert(0, ast.parse(f"assert {first} is not None, 'no input given'").body[0])
    lines = ast.unparse(tree).splitlines()  # drops every comment
    return "\n".join(f"{line}  # step {n}: my own note" if n % 2 else line for n, line in enumerate(lines)) + "\n"


def planted_class(exercise: str) -> tuple[dict[str, str], set[frozenset[str]]]:
    """The honest class plus two planted copies (of the reference and of one independent
    solution), and the set of planted pairs."""
    sources = independent(exercise)
    sources["copy_of_reference"] = disguise(sources["ind_reference"], seed=1)
    sources["copy_of_s02"] = disguise(sources["ind_s02"], seed=2)
    planted = {frozenset({"ind_reference", "copy_of_reference"}), frozenset({"ind_s02", "copy_of_s02"})}
    return sources, planted


@pytest.mark.parametrize("exercise", EXERCISES)
def test_disguise_changes_what_it_should(exercise):
    """The planted copy is really disguised: other names, other text, the same statements."""
    original = reference(EXERCISES[exercise], exercise)
    copy = disguise(original, seed=1)
    assert copy != original and "my_" in copy and "# step 1: my own note" in copy
    assert sim.statements(copy) and ast.parse(copy)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_planted_copies_flagged_and_independent_solutions_not(exercise):
    sources, planted = planted_class(exercise)
    result = sim.compare_exercise(EXERCISES[exercise], exercise, template(EXERCISES[exercise], exercise), sources)
    by_pair = {frozenset({p.student_a, p.student_b}): p for p in result.pairs}
    assert not result.too_short and not result.unreadable
    for pair in planted:
        assert by_pair[pair].flagged, f"{sorted(pair)}: similarity {by_pair[pair].similarity}"
    honest = [p for key, p in by_pair.items() if key not in planted
              and not any(s.startswith("copy_of") for s in key)]
    assert len(honest) == 15
    assert not [p for p in honest if p.flagged], [(p.student_a, p.student_b, p.similarity) for p in honest if p.flagged]
    assert [sorted(c) for c in result.clusters()] == sorted(sorted(p) for p in planted)


def test_renaming_reordering_and_comments_change_nothing():
    """After normalisation a disguised copy has exactly its original's fingerprints."""
    for exercise, assignment in EXERCISES.items():
        original = reference(assignment, exercise)
        assert sim.fingerprints(disguise(original, seed=5, extra=False)) == sim.fingerprints(original), exercise


def test_template_is_subtracted():
    """A student who left the template as released has nothing of their own to compare."""
    text = template("02_attention", "scaled_dot_product_attention")
    result = sim.compare_exercise("02_attention", "scaled_dot_product_attention", text,
                                  {"a": text, "b": text + "\n# my comment\n"})
    assert result.pairs == [] and result.cells == []


def test_short_cells_are_not_judged_and_broken_code_is_listed():
    sources = {"a": "def f(x):\n    return x\n", "b": "def f(x):\n    return x\n", "c": "def f(x:\n"}
    result = sim.compare_exercise("A", "f", "def f(x):\n    raise NotImplementedError()\n", sources)
    assert result.pairs == [] and result.too_short == ["a", "b"]
    assert [c.student for c in result.unreadable] == ["c"] and "line 1" in result.unreadable[0].unreadable


def test_magics_do_not_break_parsing():
    assert sim.statements("%matplotlib inline\n!ls\nx = 1\n")[0].tokens[0] == "Assign@0"


def _class_workspace(root: Path) -> None:
    """A workspace as autograde leaves it (release/ and submitted/), from the released course:
    the attention notebook of every student in the planted class of its scaled_dot_product_attention."""
    assignment, exercise = "02_attention", "scaled_dot_product_attention"
    released = nbformat.read(COURSE_DIR / assignment / f"{assignment}.ipynb", as_version=4)
    (root / "release" / assignment).mkdir(parents=True)
    nbformat.write(released, root / "release" / assignment / f"{assignment}.ipynb")
    sources, _ = planted_class(exercise)
    for student, source in sources.items():
        nb = nbformat.read(COURSE_DIR / assignment / f"{assignment}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == exercise:
                cell.source = source
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")
    (root / "submitted" / "broken" / assignment).mkdir(parents=True)
    (root / "submitted" / "broken" / assignment / f"{assignment}.ipynb").write_text("{not json")


def test_command_writes_pairs_csv_and_page(tmp_path):
    _class_workspace(tmp_path / "ws")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "grader", "similarity", "--workspace", str(tmp_path / "ws"),
                           "--out", str(out)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with open(out / "pairs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == sim.PAIRS_HEADER
    flagged = {frozenset({r["student_a"], r["student_b"]}) for r in rows if r["flagged"] == "true"}
    assert flagged == {frozenset({"ind_reference", "copy_of_reference"}), frozenset({"ind_s02", "copy_of_s02"})}
    assert all(r["exercise"] == "scaled_dot_product_attention" and 0 <= float(r["similarity"]) <= 1 for r in rows
               if r["flagged"] == "true")
    page = (out / "similarity.html").read_text()
    assert "copy_of_reference" in page and 'class="shared"' in page and "<script" not in page and "http" not in page
    assert "flagged pair" in done.stdout


def test_command_without_workspace_says_what_to_do(tmp_path):
    done = subprocess.run([sys.executable, "-m", "grader", "similarity", "--workspace", str(tmp_path / "none"),
                           "--out", str(tmp_path / "out")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "autograde" in done.stderr
