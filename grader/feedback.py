"""`python -m grader feedback`: one HTML page per student and notebook (nbgrader generate_feedback).

What a student sees: every cell of their graded notebook with its points, and under a failed
test the error in words, e.g. "AssertionError: your weights sum to 1 over the queries, not the
keys: take the softmax over the last axis".

What a student must not see: hidden test inputs and expected values. Two things keep them out:

1. Hidden test blocks only *call* a check (`hidden_checks.sdpa_masking(...)`, CONTRIBUTING.md);
   the data is built inside `grader/checks/`, so the cell source that feedback shows is harmless.
2. A failing check raises inside `grader/checks/*.py`, and IPython's traceback would print the
   lines around the `raise` from that file. `HideLibraryFrames` (below) drops every traceback
   frame that is not notebook code before the HTML is written, keeping the frames of the
   student's own cells and the final "Error: message" line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.converters import GenerateFeedback
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor

from grader.gradebook import graded_submissions
from grader.boundary.sanitize import SanitizeFeedback
from grader.runner import nbgrader_config, run_converter
from grader.workspace import Workspace

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _is_file_frame(chunk: str) -> bool:
    """IPython formats a frame of a .py file as 'File /path/x.py:12, in f(...)' + code lines."""
    return _ANSI.sub("", chunk).lstrip().startswith("File ")


def visible_traceback(traceback: list[str]) -> list[str]:
    """The traceback without frames from files (grader checks, lib/, torch), counted in their place."""
    kept: list[str] = []
    hidden = 0
    for chunk in traceback:
        if _is_file_frame(chunk):
            hidden += 1
            continue
        if hidden:
            kept.append(f"(... {hidden} frame{'s' if hidden > 1 else ''} in library or grader code not shown ...)")
            hidden = 0
        kept.append(chunk)
    if hidden:
        kept.append(f"(... {hidden} frame{'s' if hidden > 1 else ''} in library or grader code not shown ...)")
    return kept


class HideLibraryFrames(NbGraderPreprocessor):
    """Remove traceback frames that show code outside the notebook (see the module docstring)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = visible_traceback(output.get("traceback", []))
        return cell, resources


@dataclass
class FeedbackResult:
    pages: list[Path]
    failures: list[tuple[str, str]]  # (what, reason)


def generate_feedback(workspace: Workspace, say: Callable[[str], None] = print) -> FeedbackResult:
    """Write workspace/feedback/<student>/<A>/<notebook>.html for every graded submission."""
    config = nbgrader_config(workspace.root, workspace.db_url)
    config.GenerateFeedback.preprocessors = [GetGrades, HideLibraryFrames, SanitizeFeedback, CSSHTMLHeaderPreprocessor]
    pages, failures = [], []
    submissions = graded_submissions(workspace.db_url) if workspace.gradebook.exists() else []
    for student, assignment in submissions:
        autograded = workspace.step("autograded") / student / assignment
        if not autograded.is_dir():
            failures.append((f"{student}/{assignment}", f"no autograded notebooks in {autograded}"))
            continue
        result = run_converter(GenerateFeedback, config, assignment_id=assignment, student_id=student)
        if not result.success:
            failures.append((f"{student}/{assignment}", result.error))
            continue
        folder = workspace.step("feedback") / student / assignment
        for notebook in sorted(autograded.glob("*.ipynb")):
            page = folder / f"{notebook.stem}.html"
            if page.exists():
                pages.append(page)
                say(str(page))
            else:
                failures.append((f"{student}/{assignment}/{notebook.name}", "nbgrader wrote no feedback page"))
    return FeedbackResult(pages, failures)
