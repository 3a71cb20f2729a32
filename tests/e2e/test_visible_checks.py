"""The visible checks teach (issue 16): the measurement of tools/visible.py, every corpus variant
through the released notebook with the hidden tests removed, against the issue's targets. It runs
notebooks in-process (IPython's InteractiveShell, no Jupyter kernel, no sandbox).

(`python -m course_check` on each solved notebook is tested in tests/e2e/test_course_check_cli.py:
a file of its own, so that pytest-xdist runs it beside this long measurement.)
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from grader.settings import REPO_ROOT

pytestmark = pytest.mark.e2e


def test_visible_checks_meet_the_targets(tmp_path):
    """`python -m tools.visible` exits 0 exactly when the issue's targets hold. It forks a child per
    variant, so it runs in a fresh interpreter: this test process may have a torch thread pool,
    which a forked child must not inherit."""
    report = tmp_path / "visible.md"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "agg"}
    run = subprocess.run([sys.executable, "-m", "tools.visible", "--out", str(report)], capture_output=True,
                         text=True, env=env, cwd=REPO_ROOT, timeout=1800)
    assert run.returncode == 0, (report.read_text() if report.exists() else "") + run.stderr[-3000:]
