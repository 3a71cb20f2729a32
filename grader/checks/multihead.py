"""Hidden checks of 04_multihead: `course_check.multihead`'s checks on the grader's probes (see `grader/checks/__init__.py`)."""

from grader.checks import hidden_module

__getattr__ = hidden_module("multihead")
