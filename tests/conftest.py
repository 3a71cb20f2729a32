"""Shared fixtures for the library tests: the dtypes we support and their tolerances."""

from __future__ import annotations

import pytest
import torch

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
