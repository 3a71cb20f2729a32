"""`python -m course_check` (what a self-learner runs) accepts the solutions on any probes and warns
as the grader reads.

Each solved notebook runs through `python -m course_check` in a fresh interpreter, with the
grader's seed offset (the hidden probes) and with a fresh one: the solutions pass every case on any
inputs. (Apart from tests/e2e/test_visible_checks.py, the long measurement of the visible checks,
so that the two can run on different pytest-xdist workers.)
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import nbformat
import pytest

from grader.sample import solved
from grader.settings import REPO_ROOT, SOLUTIONS_DIR

pytestmark = pytest.mark.e2e

ASSIGNMENTS = sorted(p.name for p in SOLUTIONS_DIR.iterdir() if (p / f"{p.name}.ipynb").exists())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_passes_every_case_on_hidden_and_fresh_probes(assignment, tmp_path):
    from grader.checks import HIDDEN

    name = f"{assignment}.ipynb"
    nb = solved(nbformat.read(REPO_ROOT / "course" / assignment / name, as_version=4),
                nbformat.read(SOLUTIONS_DIR / assignment / name, as_version=4))
    nbformat.write(nb, tmp_path / name)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "agg"}
    seeds = (HIDDEN.seed_offset, random.SystemRandom().randrange(1, 2**31))
    run = subprocess.run([sys.executable, "-m", "course_check", assignment, str(tmp_path / name),
                          *(f"--seed={seed}" for seed in seeds)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert [f"seed {seed}:" in run.stdout for seed in seeds] == [True, True], run.stdout[-3000:]


def test_course_check_warns_as_the_grader_reads(tmp_path):
    """`python -m course_check` says, in the grader's words, which exercise a person will review and
    which one hands its work to a ready-made implementation; ordinary Python changes nothing."""
    from course_check.reading import REVIEW

    assignment, name = "02_attention", "02_attention.ipynb"
    nb = solved(nbformat.read(REPO_ROOT / "course" / assignment / name, as_version=4),
                nbformat.read(SOLUTIONS_DIR / assignment / name, as_version=4))
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    by_id["softmax"].source += "\nfor softmax in [softmax]:\n    pass\n"  # bound where the reader does not follow
    by_id["project_qkv"].source = ("import os\nprint(os.getcwd())\n" + by_id["project_qkv"].source)
    by_id["scaled_dot_product_attention"].source = (
        "import torch.nn.functional as F\ndef scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), None\n")
    nbformat.write(nb, tmp_path / name)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "agg"}
    run = subprocess.run([sys.executable, "-m", "course_check", assignment, str(tmp_path / name), "--seed", "1"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    lines = run.stdout.splitlines()
    softmax = [line for line in lines if "softmax" in line and REVIEW in line]
    assert softmax and "`for` statement" in softmax[0] and "line" in softmax[0], run.stdout
    assert any("scaled_dot_product_attention" in line and "which does this exercise for you" in line for line in lines), \
        run.stdout
    assert all(line.startswith("pass") for line in lines if line.startswith(("pass", "FAIL")) and "project_qkv" in line), \
        run.stdout
