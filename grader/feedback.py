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

How the page reads (`polish_page`, after nbgrader has written it):

- each failure once: when the visible check (in the kernel) and the grader's own check fail with
  the same message, only the first, with the student's line, is kept (`OneErrorPerMessage`);
- long lines wrap instead of running off the right edge;
- the index at the top names each test by the first sentence of its docstring, and each exercise
  as "your code: <exercise>", instead of nbgrader's "Test cell" / "Comment";
- equations are typeset offline, by the MathJax that ships with the environment (the
  `sphinx-mathjax-offline` package, MathJax 3, SVG output, which needs no font files), copied
  once to `feedback/_static/mathjax/` and loaded from there, instead of nbconvert's MathJax 2 from
  a CDN. A page copied away from the workspace shows the TeX source of its equations instead.
"""

from __future__ import annotations

import html
import importlib.metadata
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.converters import GenerateFeedback
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor

from grader.gradebook import graded_submissions
from grader.boundary.sanitize import SanitizeFeedback
from grader.runner import nbgrader_config, run_converter
from grader.settings import GraderError
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


def _last_line(output) -> str:
    lines = [_ANSI.sub("", line).strip() for chunk in output.get("traceback") or [] for line in chunk.splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else f"{output.get('ename')}: {output.get('evalue')}"


class OneErrorPerMessage(NbGraderPreprocessor):
    """Keep one error output per message in a cell: the visible check and the grader's own check
    often fail with the same words, and the page would say it twice."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            seen, kept = set(), []
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = _last_line(output)
                    if message in seen:
                        continue
                    seen.add(message)
                kept.append(output)
            cell.outputs = kept
        return cell, resources


# ---------------------------------------------------------------------------------------------
# The page after nbgrader wrote it (module docstring)
# ---------------------------------------------------------------------------------------------
MATHJAX_FILES = ("tex-svg.js", "ui/safe.js")
STATIC = "_static"
_MATHJAX_BLOCK = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_INDEX_LINK = re.compile(r'<a href="#(?P<id>[A-Za-z0-9_\-]+)">(?P<label>Test cell|Comment)</a>')
_COMMENT_LINK = re.compile(r'<a href="#comment-(?P<id>[A-Za-z0-9_\-]+)">Comment</a>')
WRAP_STYLE = ("<style>/* feedback: long lines wrap */ div.output_subarea pre, div.output_text pre, div.output_error pre"
              "{white-space:pre-wrap;word-break:break-word;overflow-x:visible}</style>")
MATHJAX_CONFIG = """<script>window.MathJax = {
  tex: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
        processEscapes: true, processEnvironments: true, autoload: {}},
  loader: {load: ["ui/safe"], paths: {mathjax: "%(base)s"}},
  startup: {typeset: true}, svg: {fontCache: "global"}
};</script>
<script src="%(base)s/tex-svg.js" async></script>"""


def mathjax_source() -> Path:
    """The MathJax 3 distribution installed with the environment (sphinx-mathjax-offline)."""
    try:
        dist = importlib.metadata.distribution("sphinx-mathjax-offline")
    except importlib.metadata.PackageNotFoundError:
        raise GraderError("sphinx-mathjax-offline is not installed: run `make setup` (requirements.txt)") from None
    folder = Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax"))
    if not (folder / "tex-svg.js").is_file():
        raise GraderError(f"{folder}: no tex-svg.js in the installed MathJax; reinstall sphinx-mathjax-offline")
    return folder


def install_mathjax(feedback_dir: Path) -> Path:
    """Copy the MathJax files the pages load into feedback/_static/mathjax/ (once); return that folder."""
    source, target = mathjax_source(), feedback_dir / STATIC / "mathjax"
    for name in MATHJAX_FILES:
        wanted = source / name
        have = target / name
        if not have.exists() or have.stat().st_size != wanted.stat().st_size:
            have.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(wanted, have)
    return target


def test_titles(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> the first sentence of each test cell's docstring (its title)."""
    titles = {}
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        match = re.match(r'\s*(?:[rRuU]?)("""|\'\'\'|"|\')(.*?)\1', cell.source or "", re.S) if grade_id else None
        if match:
            text = " ".join(match.group(2).split())
            first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
            titles[grade_id] = first if len(first) <= 110 else first[:107].rstrip() + "..."
    return titles


def polish_page(page: Path, notebook_path: Path, mathjax_dir: Path) -> None:
    """Rewrite one feedback page as the module docstring says."""
    text = page.read_text(encoding="utf-8")
    try:
        titles = test_titles(nbformat.read(notebook_path, as_version=4))
    except (OSError, ValueError):
        titles = {}
    text = _COMMENT_LINK.sub(lambda m: f'<a href="#comment-{m["id"]}">your code: {html.escape(m["id"])}</a>', text)
    text = _INDEX_LINK.sub(lambda m: f'<a href="#{m["id"]}">{html.escape(titles.get(m["id"], m["id"]))}</a>'
                           if m["label"] == "Test cell" else m[0], text)
    base = Path(os.path.relpath(mathjax_dir, page.parent)).as_posix()
    text = _MATHJAX_BLOCK.sub(lambda _: MATHJAX_CONFIG % {"base": base}, text, count=1)
    text = text.replace("</head>", WRAP_STYLE + "\n</head>", 1)
    page.write_text(text, encoding="utf-8")


@dataclass
class FeedbackResult:
    pages: list[Path]
    failures: list[tuple[str, str]]  # (what, reason)


def generate_feedback(workspace: Workspace, say: Callable[[str], None] = print) -> FeedbackResult:
    """Write workspace/feedback/<student>/<A>/<notebook>.html for every graded submission."""
    config = nbgrader_config(workspace.root, workspace.db_url)
    config.GenerateFeedback.preprocessors = [GetGrades, HideLibraryFrames, OneErrorPerMessage, SanitizeFeedback,
                                             CSSHTMLHeaderPreprocessor]
    pages, failures = [], []
    mathjax_dir = install_mathjax(workspace.step("feedback"))
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
                polish_page(page, notebook, mathjax_dir)
                pages.append(page)
                say(str(page))
            else:
                failures.append((f"{student}/{assignment}/{notebook.name}", "nbgrader wrote no feedback page"))
    return FeedbackResult(pages, failures)
