"""How the checks see the objects they grade: plain Python here, proxies in the grader.

The same check code runs in two places (ARCHITECTURE.md, "one diagnosis path, two places"):

- in the student's kernel (the visible part of a test cell, `python -m course_check`): the
  student's functions are ordinary Python objects, and every seam below is the plain built-in;
- in the grader's process (the hidden part): the student's objects are proxies for objects that
  live in the sandboxed kernel, and `grader.checks` installs the trust boundary's versions of
  these seams (`grader/boundary/remote.py`, `grader/checks/__init__.py`) with `install(...)`, which behave as the
  plain ones on local objects.

This package never imports the grader; the grader plugs into it.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
from collections.abc import Callable


def resolve(dotted: str):
    """The object at a dotted path: `torch.nn.functional.softmax`, or a class attribute `torch.Tensor.softmax`."""
    module_name, _, attr = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except ImportError:  # a class attribute such as torch.Tensor.softmax
        owner, _, name = module_name.rpartition(".")
        return getattr(getattr(importlib.import_module(owner), name), attr)


def _in_kernel(scenario: Callable, *args, **kwargs):
    return scenario(*args, **kwargs)


@contextlib.contextmanager
def _call_options(**options):
    yield


_notebook_text: list = []  # the code cells `python -m course_check` runs (self_check.py), when it runs them


def _kernel_reading():
    """The reading of the student's notebook where the checks run beside it: the cells
    `python -m course_check` read from the file, or the cells this kernel has run (reading.py)."""
    from course_check import reading

    if _notebook_text:
        return reading.read(tuple(_notebook_text[-1]))
    return reading.kernel_reading()


class _Seams:
    """The current seams; `install` replaces them (the grader does, once, when it imports its checks)."""

    isinstance_ = staticmethod(builtins.isinstance)
    issubclass_ = staticmethod(builtins.issubclass)
    local = staticmethod(lambda value: value)  # a tensor held elsewhere, fetched by value
    in_kernel = staticmethod(_in_kernel)  # run a scenario where the student's objects live
    is_remote = staticmethod(lambda obj: False)
    call_options = staticmethod(_call_options)  # stand-ins, forbidden calls, backward for remote calls
    submitted_reading = staticmethod(_kernel_reading)  # the reading of the submitted text (reading.py)

    def __reduce__(self):
        # A check's helper sent into the kernel (by value) finds the kernel's own seams there:
        # in the kernel the student's objects are plain Python objects.
        return _kernel_seams, ()


def _kernel_seams() -> "_Seams":
    import course_check.boundary

    return course_check.boundary.seams


seams = _Seams()


def install(**replacements) -> None:
    """Replace seams by name (the grader's boundary); unknown names are an error."""
    for name, value in replacements.items():
        if not hasattr(_Seams, name):
            raise KeyError(f"unknown seam {name!r}")
        setattr(seams, name, value)
