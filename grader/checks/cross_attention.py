"""Hidden checks of 05_cross_attention and 07_output (DecoderBlock): `course_check.cross_attention`'s checks on the grader's probes (see `grader/checks/__init__.py`)."""

from grader.checks import hidden_module

__getattr__ = hidden_module("cross_attention")
