"""Hidden checks of 08_capstone: `course_check.capstone`'s checks on the grader's probes (see `grader/checks/__init__.py`)."""

from grader.checks import hidden_module

__getattr__ = hidden_module("capstone")
