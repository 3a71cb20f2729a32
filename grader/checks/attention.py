"""Hidden checks of 02_attention: `course_check.attention`'s checks on the grader's probes (see `grader/checks/__init__.py`)."""

from grader.checks import hidden_module

__getattr__ = hidden_module("attention")
