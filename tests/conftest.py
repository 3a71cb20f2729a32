"""Shared fixtures: the dtypes we support and their tolerances (library tests), one release of
the toy and the real course (release tests), and the layer markers.

Layers (README "Tests"): tests/unit/ runs in seconds, in-process; tests/e2e/ starts real kernels
and is marked `e2e` here, so `-m "not e2e"` and `make test-fast` leave it out.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grader.intake import find_assignments
from grader.release import release
from grader.settings import SOLUTIONS_DIR

TESTS = Path(__file__).resolve().parent
TOY_SOURCE = TESTS / "fixtures" / "solutions"
REAL = find_assignments(SOLUTIONS_DIR) if SOLUTIONS_DIR.is_dir() else []


UNIT_TIMEOUT = 300  # seconds per unit test (fixture setup included); e2e tests get pyproject's `timeout`


# The files that take minutes, longest first. `make test` hands whole files to two pytest-xdist
# workers in this order (--dist loadfile --no-loadscope-reorder; xdist's default starts the files
# with the most tests first, and then these long ones came last and one worker ran alone for
# minutes); the short files fill in around them. Seconds each took in a fresh clone's `make test`
# on an idle 2-core machine (issue 29, 1b53b10), beside the other worker: corpus 487, visible
# checks 195, student lab 174, site 158, parallel/Dask 147, cheats 128, robustness 96, instructor's
# browser path 85, notebooks 77, forked kernels 74, released notebooks 68, course_check CLI 45;
# in this order the two workers ended 5 s apart (1,006 and 1,011 s).
LONGEST_FIRST = [
    "e2e/test_corpus.py",
    "e2e/test_visible_checks.py",
    "browser/test_lab.py",
    "e2e/test_grader_parallel.py",
    "e2e/test_cheats.py",
    "browser/test_site.py",
    "e2e/test_grader_robust.py",
    "e2e/test_forked_kernels.py",
    "e2e/test_notebooks.py",
    "browser/test_instructor.py",
    "e2e/test_course_check_cli.py",
    "e2e/test_released_notebooks.py",
    "e2e/test_grader_pipeline.py",
    "e2e/test_sandbox.py",
]


def pytest_collection_modifyitems(config, items):
    for item in items:
        folder = Path(item.fspath).resolve().parent
        if folder == TESTS / "e2e":
            item.add_marker(pytest.mark.e2e)
        elif folder == TESTS / "unit" and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(UNIT_TIMEOUT))
    rank = {TESTS / name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(Path(item.fspath).resolve(), len(LONGEST_FIRST)))  # stable: the rest keep their order

# One tolerance per dtype, for comparing two correct computations that may round
# differently (our code against PyTorch's or NumPy's). float32 has ~7 digits, and a
# few layers of matmuls lose one or two; float64 leaves room for ~10.
TOLERANCES = {
    torch.float32: {"rtol": 1e-4, "atol": 1e-5},
    torch.float64: {"rtol": 1e-9, "atol": 1e-10},
}


@pytest.fixture(scope="session", params=list(TOLERANCES), ids=lambda dt: str(dt).removeprefix("torch."))
def dtype(request) -> torch.dtype:
    """Every supported floating dtype (session-scoped so hypothesis tests can use it)."""
    return request.param


@pytest.fixture(scope="session")
def assert_close():
    """``assert_close(actual, expected)``: same shape, same dtype (when ``expected`` is a tensor),
    and values within the tolerance of ``actual``'s dtype."""

    def check(actual: torch.Tensor, expected, msg: str | None = None) -> None:
        if not isinstance(expected, torch.Tensor):
            # A NumPy oracle computes in float64; compare at the precision of `actual`.
            expected = torch.as_tensor(expected, dtype=actual.dtype)
        torch.testing.assert_close(actual, expected, **TOLERANCES[actual.dtype], msg=msg)

    return check


@pytest.fixture(scope="module")
def single_threaded_torch():
    """Run torch on one thread: the library tests use tiny tensors, where a thread pool only
    adds overhead, and on a busy 2-core machine it thrashes (a 2 s training test took 36 s)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _release_into(out: Path, source: Path) -> tuple[Path, Path, Path]:
    release(source_dir=source, course_dir=out / "course", bundle_path=out / "bundle.zip", say=lambda _: None)
    return source, out / "course", out / "bundle.zip"


@pytest.fixture(scope="session")
def real_release(tmp_path_factory):
    if not REAL:
        pytest.skip("no assignments in solutions/ yet")
    return _release_into(tmp_path_factory.mktemp("release-real"), SOLUTIONS_DIR)


@pytest.fixture(scope="session", params=["toy", "real"])
def released(request, tmp_path_factory):
    """(source folder, course folder, bundle) after one release of the toy or the real course."""
    if request.param == "real":
        return request.getfixturevalue("real_release")
    return _release_into(tmp_path_factory.mktemp("release-toy"), TOY_SOURCE)
