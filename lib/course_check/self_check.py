"""Self-checking: run every test cell's check on every case with fresh inputs, without the grader.

Two ways in, for a self-learner: `python -m course_check <A> <notebook>` (runs the notebook first,
see `__main__.py`), or a cell in the notebook itself, after your code:

    from course_check import check
    check("02_attention")

which checks the functions and classes your notebook defines now. Both print one verdict per test
cell, with the named mistake when a check recognises one, and the seed that repeats the run.
"""


from __future__ import annotations

import contextlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

CHECK_CALL = re.compile(r"^from course_check import (?P<module>\w+) as checks\s*\nchecks\.(?P<check>\w+)\((?P<subject>\w+)\)",
                        re.M)


@dataclass(frozen=True)
class TestCell:
    """A graded test cell of a notebook, and the check it runs."""

    grade_id: str
    points: float
    module: str
    check: str
    subject: str


def read_notebook(path: Path) -> tuple[list[str], list[TestCell]]:
    """(the code of every cell that is not a test cell, the test cells), in notebook order."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    code, tests = [], []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", []))
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            found = CHECK_CALL.search(source)
            if found:
                tests.append(TestCell(meta.get("grade_id", "?"), float(meta.get("points", 0)), **found.groupdict()))
            continue
        code.append(source)
    return code, tests


def run_code(cells: list[str]) -> tuple[dict, list[str]]:
    """Run the cells in a fresh IPython shell; return its namespace and the errors, one line each."""
    from course_check import boundary

    os.environ.setdefault("MPLBACKEND", "agg")
    os.environ["NBGRADER_EXECUTION"] = "validate"
    from IPython.core.interactiveshell import InteractiveShell

    boundary._notebook_text.append(list(cells))  # the checks read this text, as the grader reads the submission
    shell = InteractiveShell.instance()
    shell.register_magic_function(lambda line="": None, magic_kind="line", magic_name="matplotlib")
    errors = []
    for index, source in enumerate(cells):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            result = shell.run_cell(source, silent=True, store_history=False)
        error = result.error_before_exec or result.error_in_exec
        if error is not None and not isinstance(error, NotImplementedError):
            errors.append(f"code cell {index + 1} raised {type(error).__name__}: {str(error)[:200]}")
    with contextlib.suppress(Exception):
        import matplotlib.pyplot as plt

        plt.close("all")
    return shell.user_ns, errors


def report(tests: list[TestCell], verdicts: list[tuple[TestCell, str | None]]) -> bool:
    """Print the verdicts; True when every test cell passed."""
    earned = sum(t.points for t, message in verdicts if message is None)
    for test, message in verdicts:
        mark = "pass" if message is None else "FAIL"
        print(f"{mark}  {test.grade_id} ({test.points:g} pt)" + ("" if message is None else f"\n      {message}"))
    print(f"{earned:g} of {sum(t.points for t in tests):g} points on these inputs.")
    return all(message is None for _, message in verdicts)


def check(assignment: str, notebook: str | Path | None = None, seed: int | None = None) -> bool:
    """From a notebook cell: check what this notebook defines now on every case, with fresh inputs.

    `notebook` defaults to `<assignment>.ipynb` in the current folder (JupyterLab starts a
    notebook's kernel in its folder); only its test cells are read, to know which checks to run.
    """
    from IPython import get_ipython

    path = Path(notebook or f"{assignment}.ipynb")
    if not path.exists():
        raise FileNotFoundError(f"no notebook at {path}: pass check({assignment!r}, notebook='path/to/{assignment}.ipynb')")
    _, tests = read_notebook(path)
    shell = get_ipython()
    namespace = shell.user_ns if shell is not None else {}
    seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
    print(f"Checking {path.name} ({assignment}) on fresh inputs, seed {seed}: every case the grader runs.")
    return report(tests, run_checks(tests, namespace, seed))


def run_checks(tests: list[TestCell], namespace: dict, seed: int) -> list[tuple[TestCell, str | None]]:
    """Each test cell's verdict (None: passed, else the message) on every case, seeds shifted by `seed`."""
    import importlib

    from course_check.common import Probes, using

    from course_check.boundary import seams

    verdicts = []
    text = seams.submitted_reading()  # what the grader will read (reading.py): the same warnings, first
    exercises = frozenset(test.subject for test in tests)
    with using(Probes("fresh", seed_offset=seed, every_case=True)):
        for test in tests:
            check = getattr(importlib.import_module(f"course_check.{test.module}"), test.check)
            if test.subject not in namespace:
                verdicts.append((test, f"your notebook defines no `{test.subject}`"))
                continue
            doubt = text.unreadable(test.subject, exercises) if text is not None else None
            if doubt:
                verdicts.append((test, doubt.message(test.subject)))
                continue
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    check(namespace[test.subject])
            except NotImplementedError:
                verdicts.append((test, f"`{test.subject}` is not written yet (it raises NotImplementedError)"))
            except AssertionError as err:
                verdicts.append((test, str(err)))
            except Exception as err:  # a check should always explain itself; say so if one does not
                verdicts.append((test, f"{type(err).__name__}: {err}"))
            else:
                verdicts.append((test, None))
    return verdicts


