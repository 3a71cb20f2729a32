"""tools/inprocess.py, the corpus's fast judge: it scores test cells as the pipeline does, and a
notebook that crashes or hangs is reported without stopping the others.

Both tests read one run of the judge (the `judged` fixture): its warm parent (torch, IPython and
the checks imported) starts once, and the notebooks and variants that hang wait out one timeout
side by side instead of one after the other.
"""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tools import inprocess


HIDDEN_OK = "### BEGIN HIDDEN TESTS\nassert add(5, 5) == 10\n### END HIDDEN TESTS\n"
TIMEOUT = 10  # seconds per notebook; the hanging ones must be reported after it


def grade_cell(source: str, grade_id: str, points: int):
    cell = new_code_cell(source)
    cell.metadata.nbgrader = {"grade": True, "solution": False, "locked": True, "grade_id": grade_id,
                              "points": points, "schema_version": 3}
    return cell


def write(path, *cells):
    nbformat.write(new_notebook(cells=list(cells)), path)
    return path


# The notebooks of test_scores_visible_errors_and_hidden_verdicts_and_survives_crashes_and_hangs.
HONEST_CELLS = (new_code_cell("def add(a, b):\n    return a + b + (a == 2)"),
                grade_cell(f"assert add(1, 1) == 2\n{HIDDEN_OK}", "test_visible_ok", 2),
                grade_cell(f"assert add(2, 2) == 4, 'add(2, 2) is not 4'\n{HIDDEN_OK}", "test_visible_fails", 3),
                grade_cell("assert add(0, 0) == 0\n### BEGIN HIDDEN TESTS\nassert add(2, 0) == 2, 'add(2, 0) is not 2'\n"
                           "### END HIDDEN TESTS\n", "test_hidden_fails", 4),
                grade_cell(HIDDEN_OK, "test_hidden_ok", 1))

# The base notebook and its variants of test_variants_of_one_cell_are_judged_as_whole_notebooks_would_be.
BASE_CELLS = (new_code_cell("def add(a, b):\n    return a + b"),
              grade_cell(f"assert add(1, 1) == 2\n{HIDDEN_OK}", "test_add", 2),
              new_code_cell("def twice(a):\n    return add(a, a)"),
              grade_cell("assert twice(2) == 4\n### BEGIN HIDDEN TESTS\nassert twice(3) == 6, 'twice(3) is not 6'\n"
                         "### END HIDDEN TESTS\n", "test_twice", 3))
CHANGED = {"wrong_add": (0, "def add(a, b):\n    return a + b + (a == 5)", None),
           "wrong_twice": (2, "def twice(a):\n    return 4", None),
           "twice_only": (2, "def twice(a):\n    return 2 * a", "test_twice"),
           "crash": (2, "import os\nos._exit(3)", None),
           "hang": (2, "import time\ntime.sleep(60)", None)}
WHOLE = ("wrong_add", "wrong_twice", "twice_only")  # also judged as whole notebooks, to compare


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """One `run_in_subprocess` over the notebooks and the variants of both tests below:
    (results, {name: notebook path})."""
    tmp = tmp_path_factory.mktemp("inprocess")
    paths = {"honest": write(tmp / "honest.ipynb", *HONEST_CELLS),
             "crash": write(tmp / "crash.ipynb", new_code_cell("import os\nos._exit(3)"), grade_cell("pass", "test_t", 1)),
             "only": write(tmp / "only.ipynb", *HONEST_CELLS),
             "hang": write(tmp / "hang.ipynb", new_code_cell("import time\ntime.sleep(60)"), grade_cell("pass", "test_t", 1)),
             "base": write(tmp / "base.ipynb", *BASE_CELLS)}
    for key in WHOLE:
        index, source, _ = CHANGED[key]
        cells = [nbformat.from_dict(c) for c in BASE_CELLS]
        cells[index].source = source
        paths[key] = write(tmp / f"{key}.ipynb", *cells)
    jobs = {paths["honest"]: None, paths["crash"]: None, paths["hang"]: None, paths["only"]: "test_hidden",
            **{paths[key]: CHANGED[key][2] for key in WHOLE}}
    groups = {"g": {"base": str(paths["base"]), "variants": {k: list(v) for k, v in CHANGED.items()}}}
    # Three at a time: the hanging notebook and the variants' group (whose `hang` waits its own
    # timeout) run beside the others.
    results = inprocess.run_in_subprocess(jobs, workers=3, timeout=TIMEOUT, variants=groups)
    return results, {key: str(path) for key, path in paths.items()}


def test_scores_visible_errors_and_hidden_verdicts_and_survives_crashes_and_hangs(judged):
    results, paths = judged
    cells = {c.grade_id: c for c in results[paths["honest"]]}
    assert {g: c.score for g, c in cells.items()} == {"test_visible_ok": 2, "test_visible_fails": 0,
                                                      "test_hidden_fails": 0, "test_hidden_ok": 1}
    assert cells["test_visible_fails"].visible == "AssertionError: add(2, 2) is not 4"
    assert cells["test_hidden_fails"].visible is None
    assert cells["test_hidden_fails"].hidden == "add(2, 0) is not 2"
    assert {c.grade_id: c.score for c in results[paths["only"]]} == {"test_hidden_fails": 0, "test_hidden_ok": 1}
    assert results[paths["crash"]] == "the notebook's process died (exit status 3)"
    assert results[paths["hang"]] == f"did not finish within {TIMEOUT} s"


def test_variants_of_one_cell_are_judged_as_whole_notebooks_would_be(judged):
    """run_variants (the corpus's prefix forking) gives each variant the scores its whole notebook
    gets from run_notebook; a variant that crashes or hangs costs only itself."""
    results, paths = judged
    for key in WHOLE:
        assert results[key] == results[paths[key]], key
    assert {c.grade_id: c.score for c in results["wrong_add"]} == {"test_add": 0, "test_twice": 3}
    assert {c.grade_id: c.score for c in results["wrong_twice"]} == {"test_add": 2, "test_twice": 0}
    assert {c.grade_id: c.score for c in results["twice_only"]} == {"test_twice": 3}
    assert results["crash"] == "the notebook's process died (exit status 3)"
    assert results["hang"] == f"did not finish within {TIMEOUT} s"
