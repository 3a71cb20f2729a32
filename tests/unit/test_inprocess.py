"""tools/inprocess.py, the corpus's fast judge: it scores test cells as the pipeline does, and a
notebook that crashes or hangs is reported without stopping the others."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from tools import inprocess


HIDDEN_OK = "### BEGIN HIDDEN TESTS\nassert add(5, 5) == 10\n### END HIDDEN TESTS\n"


def grade_cell(source: str, grade_id: str, points: int):
    cell = new_code_cell(source)
    cell.metadata.nbgrader = {"grade": True, "solution": False, "locked": True, "grade_id": grade_id,
                              "points": points, "schema_version": 3}
    return cell


def write(path, *cells):
    nbformat.write(new_notebook(cells=list(cells)), path)
    return path


def test_scores_visible_errors_and_hidden_verdicts_and_survives_crashes_and_hangs(tmp_path):
    honest_cells = (new_code_cell("def add(a, b):\n    return a + b + (a == 2)"),
                   grade_cell(f"assert add(1, 1) == 2\n{HIDDEN_OK}", "test_visible_ok", 2),
                   grade_cell(f"assert add(2, 2) == 4, 'add(2, 2) is not 4'\n{HIDDEN_OK}", "test_visible_fails", 3),
                   grade_cell("assert add(0, 0) == 0\n### BEGIN HIDDEN TESTS\nassert add(2, 0) == 2, 'add(2, 0) is not 2'\n"
                              "### END HIDDEN TESTS\n", "test_hidden_fails", 4),
                   grade_cell(HIDDEN_OK, "test_hidden_ok", 1))
    honest = write(tmp_path / "honest.ipynb", *honest_cells)
    crash = write(tmp_path / "crash.ipynb", new_code_cell("import os\nos._exit(3)"), grade_cell("pass", "test_t", 1))
    only = write(tmp_path / "only.ipynb", *honest_cells)
    hang = write(tmp_path / "hang.ipynb", new_code_cell("import time\ntime.sleep(60)"), grade_cell("pass", "test_t", 1))

    results = inprocess.run_in_subprocess({honest: None, crash: None, hang: None, only: "test_hidden"}, workers=3, timeout=10)

    cells = {c.grade_id: c for c in results[str(honest)]}
    assert {g: c.score for g, c in cells.items()} == {"test_visible_ok": 2, "test_visible_fails": 0,
                                                      "test_hidden_fails": 0, "test_hidden_ok": 1}
    assert cells["test_visible_fails"].visible == "AssertionError: add(2, 2) is not 4"
    assert cells["test_hidden_fails"].visible is None
    assert cells["test_hidden_fails"].hidden == "add(2, 0) is not 2"
    assert {c.grade_id: c.score for c in results[str(only)]} == {"test_hidden_fails": 0, "test_hidden_ok": 1}
    assert results[str(crash)] == "the notebook's process died (exit status 3)"
    assert results[str(hang)] == "did not finish within 10 s"


def test_variants_of_one_cell_are_judged_as_whole_notebooks_would_be(tmp_path):
    """run_variants (the corpus's prefix forking) gives each variant the scores its whole notebook
    gets from run_notebook; a variant that crashes or hangs costs only itself."""
    cells = [new_code_cell("def add(a, b):\n    return a + b"),
             grade_cell(f"assert add(1, 1) == 2\n{HIDDEN_OK}", "test_add", 2),
             new_code_cell("def twice(a):\n    return add(a, a)"),
             grade_cell("assert twice(2) == 4\n### BEGIN HIDDEN TESTS\nassert twice(3) == 6, 'twice(3) is not 6'\n"
                        "### END HIDDEN TESTS\n", "test_twice", 3)]
    base = write(tmp_path / "base.ipynb", *cells)
    changed = {"wrong_add": (0, "def add(a, b):\n    return a + b + (a == 5)", None),
               "wrong_twice": (2, "def twice(a):\n    return 4", None),
               "twice_only": (2, "def twice(a):\n    return 2 * a", "test_twice"),
               "crash": (2, "import os\nos._exit(3)", None),
               "hang": (2, "import time\ntime.sleep(60)", None)}
    wholes = {}
    for key, (index, source, _) in changed.items():
        nb = nbformat.read(base, as_version=4)
        nb.cells[index].source = source
        wholes[key] = write(tmp_path / f"{key}.ipynb", *nb.cells)
    groups = {"g": {"base": str(base), "variants": {k: list(v) for k, v in changed.items()}}}
    results = inprocess.run_in_subprocess({wholes[k]: changed[k][2] for k in ("wrong_add", "wrong_twice", "twice_only")},
                                          workers=2, timeout=10, variants=groups)
    for key in ("wrong_add", "wrong_twice", "twice_only"):
        assert results[key] == results[str(wholes[key])], key
    assert {c.grade_id: c.score for c in results["wrong_add"]} == {"test_add": 0, "test_twice": 3}
    assert {c.grade_id: c.score for c in results["wrong_twice"]} == {"test_add": 2, "test_twice": 0}
    assert {c.grade_id: c.score for c in results["twice_only"]} == {"test_twice": 3}
    assert results["crash"] == "the notebook's process died (exit status 3)"
    assert results["hang"] == "did not finish within 10 s"
