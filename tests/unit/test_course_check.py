"""The public check package `course_check` (lib/course_check/): what ties it to the notebooks and the grader.

The checks' behaviour on right and wrong answers is measured end to end by
tests/e2e/test_visible_checks.py (visible parts) and the corpus (hidden parts).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from course_check.common import PUBLIC, Probes, cases, probes, seeded, using
from tools import test_cells

LIB = Path(__file__).resolve().parents[2] / "lib" / "course_check"


def test_every_test_cell_is_generated_from_its_check():
    """Code and docstring of each test cell come from the check it runs (python -m tools.test_cells --write)."""
    assert test_cells.differing() == []


@pytest.mark.parametrize("path", sorted(LIB.glob("*.py")), ids=lambda p: p.name)
def test_course_check_never_imports_the_grader(path):
    """It runs in the student's sandboxed kernel, which has no `grader` package."""
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        assert not any(n == "grader" or n.startswith("grader.") for n in names), f"{path.name} imports {names}"


def test_public_probes_run_a_part_of_the_cases_and_the_grader_runs_them_all():
    from grader.checks import HIDDEN

    items = [1, 2, 3, 4, 5]
    assert probes() is PUBLIC and cases(items) == [1, 2, 3]
    with using(HIDDEN):
        assert cases(items) == items
        hidden_draw = torch_draw()
    assert HIDDEN.every_case and HIDDEN.seed_offset != PUBLIC.seed_offset
    assert hidden_draw != torch_draw(), "the grader's seeds must differ from the public ones"
    with using(Probes("fresh", seed_offset=5, every_case=True)):
        assert cases([1]) == [1]


def torch_draw() -> float:
    import torch

    return torch.rand(1, generator=seeded(100)).item()


def test_the_grader_serves_the_same_check_functions():
    import course_check.attention
    from grader.checks import attention

    assert attention.sdpa_values.__wrapped__ is course_check.attention.sdpa_values
    assert attention.softmax_oracle is course_check.attention.softmax_oracle  # helpers are not wrapped


def test_stand_ins_named_in_docstrings_are_the_ones_swapped():
    """STAND_INS (what a test cell's docstring names) agrees with the grade_alone calls of its module."""
    for path in sorted(LIB.glob("*.py")):
        text = path.read_text()
        tree = ast.parse(text)
        declared = next((ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                         and getattr(n.targets[0], "id", "") == "STAND_INS"), {})
        swapped = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "grade_alone" and isinstance(node.args[1], ast.Dict):
                swapped.setdefault(node.args[0].id, set()).update(k.value for k in node.args[1].keys)
        assert {k: set(v) for k, v in declared.items()} == swapped, path.name


def test_the_self_check_finds_every_test_cell_of_the_released_notebooks():
    """`python -m course_check` and `check()` read the checks to run from the released test cells."""
    import json

    from course_check.self_check import read_notebook
    from grader.settings import COURSE_DIR

    for path in sorted(COURSE_DIR.glob("*/*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        graded = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")
                  and not c["metadata"]["nbgrader"].get("solution")]
        _, tests = read_notebook(path)
        assert [t.grade_id for t in tests] == [c["metadata"]["nbgrader"]["grade_id"] for c in graded], path.name
