"""What every grading process needs, loaded once in the fork server it is forked from
(grader/execution.py `_forkserver`) instead of once per graded notebook.

Each was paid by every grading process before: nbformat compiling its JSON schema validators
(twice per notebook), SQLAlchemy's SQLite dialect and mappings, IPython (nbconvert's output
handling imports it), the hidden checks with the reference library, and torch._dynamo (the first
optimizer a check makes imports it: 0.7 s, ~800 modules). A grading process's CPU per student (8
notebooks, one worker): 6.8 s before, 4.8 s after. And the reading of the released notebooks'
cells (course_check/reading.py caches each cell's), which a submission mostly repeats: 0.2 s per
notebook read cold, 0.01 s warm.

Importing this module runs no torch operation, starts no thread and leaves the environment as it
was (tests/unit/test_imports.py): processes forked from the fork server start torch's thread pools
themselves.
"""

from __future__ import annotations

import importlib
import os
import pkgutil


def _load() -> None:
    import sqlite3  # noqa: F401  (SQLAlchemy imports it when it first connects)

    import IPython.core.interactiveshell  # noqa: F401
    import nbformat
    import nbgrader.api  # noqa: F401
    import sqlalchemy.dialects.sqlite  # noqa: F401
    import sqlalchemy.orm
    import torch._dynamo  # noqa: F401
    from nbformat.validator import get_validator

    import grader.checks
    import grader.execution  # noqa: F401

    # nbformat validates every notebook it reads or writes, strictly and with relaxed properties.
    for relax in (False, True):
        get_validator(version=4, version_minor=nbformat.v4.nbformat_minor, relax_add_props=relax)
    # SQLAlchemy sets up the gradebook's table mappings at the first query.
    sqlalchemy.orm.configure_mappers()
    # The hidden checks (one module per assignment) and, through them, course_check and transformer_reference.
    # One that does not import (an instructor's edit, say) fails in the grading process, where the
    # error reaches the notebook it grades; here it would stop the fork server.
    for module in pkgutil.iter_modules(grader.checks.__path__):
        try:
            importlib.import_module(f"grader.checks.{module.name}")
        except Exception:
            pass
    _read_released()


def _read_released() -> None:
    """Read each released notebook's code cells as a submission's are read when it is graded (the
    test cells as nbgrader restores them, without their hidden part; grader/boundary/verdicts.py)."""
    import nbformat
    from course_check import reading

    from grader.boundary.verdicts import is_test_cell, split_hidden
    from grader.settings import COURSE_DIR, SOLUTIONS_DIR

    for source in sorted(SOLUTIONS_DIR.glob("*/*.ipynb")):
        try:
            solution = nbformat.read(source, as_version=4)
            released = nbformat.read(COURSE_DIR / source.parent.name / source.name, as_version=4)
        except Exception:  # not released yet: its submissions are read cold
            continue
        code = [split_hidden(ours.source)[0] if is_test_cell(ours) else theirs.source
                for ours, theirs in zip(solution.cells, released.cells) if ours.cell_type == "code"]
        reading.read(tuple(code))


_environment = dict(os.environ)
_load()
os.environ.clear()  # importing torch._dynamo sets TORCHINDUCTOR_CACHE_DIR
os.environ.update(_environment)
