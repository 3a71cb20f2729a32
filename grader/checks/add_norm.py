"""Hidden checks of 06_add_norm: `course_check.add_norm`'s checks on the grader's probes (see `grader/checks/__init__.py`)."""

from grader.checks import hidden_module

__getattr__ = hidden_module("add_norm")
