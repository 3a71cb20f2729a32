"""Hidden checks of 01_embeddings: `course_check.embeddings`'s checks on the grader's probes (see `grader/checks/__init__.py`)."""

from grader.checks import hidden_module

__getattr__ = hidden_module("embeddings")
