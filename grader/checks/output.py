"""Hidden checks of 07_output: `course_check.output`'s checks on the grader's probes (see `grader/checks/__init__.py`)."""

from grader.checks import hidden_module

__getattr__ = hidden_module("output")
