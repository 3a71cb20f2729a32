"""Hidden checks of 03_masking: `course_check.masking`'s checks on the grader's probes (see `grader/checks/__init__.py`)."""

from grader.checks import hidden_module

__getattr__ = hidden_module("masking")
