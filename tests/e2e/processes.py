"""Telling this test's grading processes from those of tests running beside it (pytest -n 2)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def own_temporary_folder() -> Iterator[str]:
    """Point this process's temporary files at a fresh folder while the block runs.

    Each grading process's scratch folder, and so every sandbox's host folder, is made inside it;
    a sandboxed kernel's command line names its host folder, so a test can find exactly its own
    kernels. 0o711: a sandbox started by root enters it as nobody.
    """
    folder = tempfile.mkdtemp(prefix="grader-test-")
    os.chmod(folder, 0o711)
    saved = tempfile.tempdir
    tempfile.tempdir = folder
    try:
        yield folder
    finally:
        tempfile.tempdir = saved
