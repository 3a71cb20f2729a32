"""Runs INSIDE every grading kernel (in its sandbox, unless --no-sandbox), before any student code.

`grader/workspace.py` copies this file into the workspace's IPython profile
(`<workspace>/ipython/profile_default/startup/00-grader.py`); the kernel finds it through
`IPYTHONDIR` (`workspace.kernel_environment`). It is not imported by the grader itself.
"""
import os as _os

_limit = int(_os.environ.get("GRADER_KERNEL_MEMORY_BYTES") or 0)
if _limit > 0:  # cap this kernel's address space (soft and hard: student code cannot raise it)
    import resource as _resource

    _resource.setrlimit(_resource.RLIMIT_AS, (_limit, _limit))
    del _resource
del _os, _limit

# Figures are drawn but never rendered (no test reads them): the kernel runs matplotlib's `agg`
# backend, `%matplotlib inline` in a notebook must not switch it back, and figures are closed
# after every cell so they do not pile up.
import warnings as _warnings

_warnings.filterwarnings("ignore", message=".*non-interactive, and thus cannot be shown")
get_ipython().register_magic_function(lambda line="": None, magic_kind="line", magic_name="matplotlib")  # noqa: F821


def _close_figures():
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


get_ipython().events.register("post_execute", _close_figures)  # noqa: F821
del _warnings
