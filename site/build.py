"""Build the self-study site: static HTML of every lesson, executed, with the solutions folded away.

    python site/build.py            (or `make site`)  ->  site/_build/html/index.html

1. Every `solutions/<A>/<A>.ipynb` becomes a clean notebook `site/_build/source/<A>.ipynb`
   (`clean_notebook`): no nbgrader markers, no hidden tests, no `grader` imports, no nbgrader
   metadata. Each exercise is shown as the student gets it (signature and docstring, body `...`),
   followed by the worked solution folded under "Show the worked solution"; the visible tests
   stay, folded under their one-line description.
2. Sphinx with MyST-NB (`site/conf.py`) executes the notebooks in the course's kernel and renders
   prose, equations, outputs and figures. Executions are cached in `site/_build/jupyter_cache`
   (jupyter-cache): a notebook runs again only when its code changes.

The capstone (08) trains its full schedule here, as a self-learner running it would: the first
build takes about 2.5 minutes on 2 cores (the capstone ~100 s of it), a rebuild with nothing
changed a few seconds. `--reduced-training` builds with the capstone's short schedule instead, the
one the autograder runs, by setting NBGRADER_EXECUTION=validate for the kernels (the variable
`transformer_reference.training.autograding()` reads); the browser tests use it, into their own
build folder, so that a cold build there takes about a minute. Its capstone page shows an
untrained model, so never publish it.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import sys
from pathlib import Path

SITE_DIR = Path(__file__).resolve().parent
REPO_ROOT = SITE_DIR.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
BUILD_DIR = SITE_DIR / "_build"

# What must never reach a page: nbgrader's markers and the grader's hidden checks.
FORBIDDEN = [
    re.compile(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)"),
    re.compile(r"# YOUR CODE HERE"),
    re.compile(r"raise NotImplementedError"),
    re.compile(r"^\s*(from|import)\s+grader\b", re.MULTILINE),
]
SOLUTION_BLOCK = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*\n?", re.DOTALL | re.MULTILINE)
HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n.*?^[ \t]*### END HIDDEN TESTS[ \t]*\n?", re.DOTALL | re.MULTILINE)
MARKER_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)
DOCSTRING_ONLY = re.compile(r'\s*("""|\'\'\')[\s\S]*?\1\s*')


class SiteError(Exception):
    """A notebook the site cannot show as it is; the message names the notebook and the cell."""


def find_lessons(solutions_dir: Path = SOLUTIONS_DIR) -> list[Path]:
    """`solutions/<A>/<A>.ipynb` for every assignment, in course order."""
    lessons = sorted(p for p in solutions_dir.glob("*/*.ipynb") if p.stem == p.parent.name)
    if not lessons:
        raise SiteError(f"{solutions_dir}: no notebooks <A>/<A>.ipynb found")
    return lessons


def _code_cell(source: str, tags: list[str] | None = None, prompts: tuple[str, str] | None = None) -> dict:
    metadata: dict = {}
    if tags:
        metadata["tags"] = tags
    if prompts:
        metadata["mystnb"] = {"code_prompt_show": prompts[0], "code_prompt_hide": prompts[1]}
    return {"cell_type": "code", "execution_count": None, "metadata": metadata, "outputs": [], "source": source}


def _markdown_cell(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def _first_docstring_line(source: str) -> str:
    match = re.match(r'\s*(?:"""|\'\'\')(.*?)(?:"""|\'\'\'|\n)', source)
    return match.group(1).strip() if match else ""


def clean_notebook(notebook: dict, name: str) -> dict:
    """The self-study version of one solution notebook (see the module docstring)."""
    cells = []
    for index, cell in enumerate(notebook["cells"]):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        meta = cell.get("metadata", {}).get("nbgrader", {})
        where = f"{name}, cell {index} ({meta.get('grade_id', cell['cell_type'])})"
        if cell["cell_type"] != "code":
            if meta.get("solution"):
                raise SiteError(f"{where}: a written-answer cell; the site does not know how to fold it yet")
            cells.append(_markdown_cell(source))
        elif meta.get("solution"):
            if not SOLUTION_BLOCK.search(source):
                raise SiteError(f"{where}: a solution cell without ### BEGIN SOLUTION / ### END SOLUTION")
            exercise = SOLUTION_BLOCK.sub(lambda m: f"{m.group(1)}...\n", source).rstrip()
            cells.append(_markdown_cell(f"**Exercise.** Complete the code:\n\n```python\n{exercise}\n```"))
            cells.append(_code_cell(MARKER_LINE.sub("", source).rstrip(), ["hide-input"],
                                    ("Show the worked solution", "Hide the worked solution")))
        elif meta.get("grade"):
            visible = HIDDEN_TESTS.sub("", source).rstrip()
            if DOCSTRING_ONLY.fullmatch(visible) or not visible.strip():
                continue  # a test cell of hidden checks only: nothing for a self-learner to read
            what = _first_docstring_line(visible) or "show"
            cells.append(_code_cell(visible, ["hide-input"], (f"Test: {what}", "Hide the test")))
        else:
            cells.append(_code_cell(source))
    for index, cell in enumerate(cells):
        for pattern in FORBIDDEN:
            if pattern.search(cell["source"]):
                raise SiteError(f"{name}: the cleaned cell {index} still contains {pattern.pattern!r}:\n{cell['source']}")
    for index, cell in enumerate(cells):
        cell["id"] = f"{name}-{index}"  # nbformat 4.5 wants ids; fixed ones keep rebuilds identical
    metadata = copy.deepcopy(notebook.get("metadata", {}))
    metadata.pop("nbgrader", None)
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def write_sources(source_dir: Path, solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """Clean notebooks and the index page into `source_dir`; unchanged files are left untouched
    (Sphinx rebuilds only what changed). Returns the lesson names."""
    source_dir.mkdir(parents=True, exist_ok=True)
    names = []
    wanted = {"index.md"}
    for path in find_lessons(solutions_dir):
        cleaned = clean_notebook(json.loads(path.read_text(encoding="utf-8")), path.stem)
        _write_if_changed(source_dir / path.name, json.dumps(cleaned, indent=1, ensure_ascii=False) + "\n")
        names.append(path.stem)
        wanted.add(path.name)
    _write_if_changed(source_dir / "index.md", (SITE_DIR / "index.md").read_text(encoding="utf-8"))
    for stale in source_dir.iterdir():
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
    return names


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def build(build_dir: Path = BUILD_DIR, *, reduced_training: bool = False, quiet: bool = False) -> Path:
    """Clean the notebooks and run Sphinx; returns the folder of the HTML site."""
    from sphinx.cmd.build import build_main

    if reduced_training:
        # The kernels inherit this; jupyter-cache does not key on it, hence a build folder of its own.
        os.environ["NBGRADER_EXECUTION"] = "validate"

    source_dir, html_dir = build_dir / "source", build_dir / "html"
    write_sources(source_dir)
    # -W: a warning (a broken reference, a failed cell, a lesson missing from the index) fails the build.
    args = ["-b", "html", "-c", str(SITE_DIR), "-W", "--keep-going", "-d", str(build_dir / "doctrees"),
            "-D", f"nb_execution_cache_path={build_dir / 'jupyter_cache'}", str(source_dir), str(html_dir)]
    if quiet:
        args.insert(0, "-q")
    status = build_main(args)
    if status != 0:
        raise SiteError(f"sphinx-build failed (exit {status}); its messages are above")
    return html_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR, help="default: site/_build")
    parser.add_argument("--clean", action="store_true", help="start from nothing (also drops the execution cache)")
    parser.add_argument("--reduced-training", action="store_true",
                        help="the capstone's short autograder schedule (quick checks; needs its own --build-dir)")
    args = parser.parse_args(argv)
    if args.reduced_training and args.build_dir.resolve() == BUILD_DIR:
        parser.error("--reduced-training needs its own --build-dir: the execution cache does not know the schedule")
    if args.clean:
        shutil.rmtree(args.build_dir, ignore_errors=True)
    try:
        html_dir = build(args.build_dir.resolve(), reduced_training=args.reduced_training)
    except SiteError as error:
        print(f"site: {error}", file=sys.stderr)
        return 1
    print(f"site: open {html_dir / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
