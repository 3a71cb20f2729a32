"""Released notebooks give nothing for free: with the solutions stubbed out, no test cell passes."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from grader.intake import find_assignments
from grader.release import unsolved_passing_tests


def test_released_notebooks_fail_their_own_tests(released):
    """`nbgrader validate --invert`: with the solutions stubbed out, no test cell passes."""
    source, course, _ = released
    notebooks = [course / a / f"{a}.ipynb" for a in find_assignments(source)]
    with ProcessPoolExecutor(max_workers=min(len(notebooks), 2), mp_context=multiprocessing.get_context("spawn")) as pool:
        passing = dict(zip(notebooks, pool.map(unsolved_passing_tests, notebooks)))
    assert passing == {nb: [] for nb in notebooks}
