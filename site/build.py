"""Build the self-study site: static HTML of every lesson, executed, with the solutions folded away.

    python site/build.py            (or `make site`)  ->  site/_build/html/index.html

1. Every `solutions/<A>/<A>.ipynb` becomes a clean notebook `site/_build/source/<A>.ipynb`
   (`clean_notebook`): no nbgrader markers, no hidden tests, no `grader` imports, no nbgrader
   metadata. Each exercise is shown as the student gets it (signature and docstring, body `...`),
   followed by the worked solution folded under "Show the worked solution"; the visible tests
   stay, folded under their whole description. Each page opens with links to the lessons before
   and after it and to the lesson's student notebook; "Next, in **03 · Masking**" becomes a link;
   the capstone's training logs (tqdm progress bars) are folded.
2. The downloads go to `site/_build/.../downloads/` (Sphinx's `html_extra_path`): each lesson's
   student notebook, the released `course/<A>/<A>.ipynb` byte for byte, and the student bundle
   `transformer-course-student.zip`, zipped from `course/` by the same function as
   `python -m grader release` (so it equals `dist/transformer-course-student.zip` of that release).
3. Sphinx with MyST-NB (`site/conf.py`) executes the notebooks in the course's kernel and renders
   prose, equations, outputs and figures. Executions are cached in `site/_build/jupyter_cache`
   (jupyter-cache): a notebook runs again only when its code changes.

The capstone (08) trains its full schedule here, as a self-learner running it would: the first
build takes about 2.5 minutes on 2 cores (the capstone ~100 s of it), a rebuild with nothing
changed a few seconds. `--reduced-training` builds with the capstone's short schedule instead, the
one the autograder runs, by setting NBGRADER_EXECUTION=validate for the kernels (the variable
`transformer_reference.training.autograding()` reads); the browser tests use it, into their own
build folder, so that a cold build there takes about 1.5 minutes (93 s on a busy 2-core machine). Its capstone page shows an
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
COURSE_DIR = REPO_ROOT / "course"
DOWNLOADS = "downloads"  # the folder of the site that holds the notebooks and the bundle
BUNDLE_NAME = "transformer-course-student.zip"
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
NEXT_LESSON = re.compile(r"Next, in \*\*(?P<number>\d\d)(?P<rest>[^*]*)\*\*")
TRAINING_LOG = re.compile(r"\bprogress=sys\.stdout\b")  # a cell that prints tqdm's progress bars


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


def _docstring_text(source: str) -> str:
    """The whole opening docstring of a cell on one line (a test's title, never cut mid-sentence)."""
    match = re.match(r'\s*("""|\'\'\')(.*?)\1', source, re.DOTALL)
    return " ".join(match.group(2).split()) if match else ""


def _title(notebook: dict, name: str) -> str:
    """The lesson's title as its first heading gives it ("02 · Attention" of "# 02 · Attention: ...")."""
    for cell in notebook["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        found = re.search(r"^# (.+)$", source, re.MULTILINE) if cell["cell_type"] == "markdown" else None
        if found:
            return found.group(1).split(":")[0].strip()
    return name


def _link_next(source: str, lessons: dict[str, str]) -> str:
    """ "Next, in **03 · Masking**" -> a link to that lesson's page (numbers without a lesson stay text)."""
    def link(match: re.Match) -> str:
        target = next((n for n in lessons if n.startswith(match.group("number") + "_")), None)
        return f"Next, in [**{match.group('number')}{match.group('rest')}**]({target}.ipynb)" if target else match.group(0)
    return NEXT_LESSON.sub(link, source)


def _lesson_header(name: str, lessons: dict[str, str]) -> str:
    """Previous / next lesson and the downloads, above the lesson's first words."""
    names = list(lessons)
    here = names.index(name)
    steps = []
    if here > 0:
        steps.append(f'<a class="lesson-prev" href="{names[here - 1]}.html">← {lessons[names[here - 1]]}</a>')
    if here + 1 < len(names):
        steps.append(f'<a class="lesson-next" href="{names[here + 1]}.html">{lessons[names[here + 1]]} →</a>')
    return (f'<nav class="lesson-steps">{" ".join(steps)}</nav>\n\n'
            "```{admonition} Run this lesson yourself\n:class: tip lesson-downloads\n"
            f'<a class="download-notebook" href="{DOWNLOADS}/{name}.ipynb" download>Download the student '
            f"notebook</a> ({name}.ipynb: the exercises without their solutions, with the test cells, as the "
            f'course hands them out) or <a class="download-bundle" href="{DOWNLOADS}/{BUNDLE_NAME}" download>'
            "the whole course</a> (unzip it, then `make lab` sets it up and opens JupyterLab; its README "
            "explains the rest).\n```")


def clean_notebook(notebook: dict, name: str, lessons: dict[str, str] | None = None) -> dict:
    """The self-study version of one solution notebook (see the module docstring).

    `lessons` maps every lesson's name to its title, in course order (for the links between them)."""
    lessons = lessons or {name: _title(notebook, name)}
    cells = []
    for index, cell in enumerate(notebook["cells"]):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        meta = cell.get("metadata", {}).get("nbgrader", {})
        where = f"{name}, cell {index} ({meta.get('grade_id', cell['cell_type'])})"
        if cell["cell_type"] != "code":
            if meta.get("solution"):
                raise SiteError(f"{where}: a written-answer cell; the site does not know how to fold it yet")
            source = _link_next(source, lessons)
            heading = re.match(r"\s*# .*\n", source) if not cells else None
            if heading:  # the lesson's title, then previous/next and the downloads, then its first words
                cells.append(_markdown_cell(heading.group(0).strip()))
                cells.append(_markdown_cell(_lesson_header(name, lessons)))
                source = source[heading.end():]
            if source.strip():
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
            what = _docstring_text(visible) or "show"
            cells.append(_code_cell(visible, ["hide-input"], (f"Test: {what}", "Hide the test")))
        elif TRAINING_LOG.search(source):
            cells.append(_code_cell(source, ["hide-output"], ("Show the training log", "Hide the training log")))
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
    notebooks = {path: json.loads(path.read_text(encoding="utf-8")) for path in find_lessons(solutions_dir)}
    lessons = {path.stem: _title(notebook, path.stem) for path, notebook in notebooks.items()}
    for path, notebook in notebooks.items():
        cleaned = clean_notebook(notebook, path.stem, lessons)
        _write_if_changed(source_dir / path.name, json.dumps(cleaned, indent=1, ensure_ascii=False) + "\n")
        names.append(path.stem)
        wanted.add(path.name)
    _write_if_changed(source_dir / "index.md", (SITE_DIR / "index.md").read_text(encoding="utf-8"))
    for stale in source_dir.iterdir():
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
    return names


def write_downloads(extra_dir: Path, names: list[str], course_dir: Path = COURSE_DIR) -> None:
    """The released student notebooks and the student bundle, into `extra_dir/downloads/`."""
    from grader.release import build_bundle

    downloads = extra_dir / DOWNLOADS
    shutil.rmtree(downloads, ignore_errors=True)
    downloads.mkdir(parents=True)
    for name in names:
        released = course_dir / name / f"{name}.ipynb"
        if not released.is_file():
            raise SiteError(f"{released}: no released notebook to offer (run `python -m grader release`)")
        shutil.copy2(released, downloads / released.name)
    build_bundle(downloads / BUNDLE_NAME, course_dir=course_dir)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def build(build_dir: Path = BUILD_DIR, *, reduced_training: bool = False, quiet: bool = False) -> Path:
    """Clean the notebooks and run Sphinx; returns the folder of the HTML site."""
    from sphinx.cmd.build import build_main

    if reduced_training:
        # The kernels inherit this; jupyter-cache does not key on it, hence a build folder of its own.
        os.environ["NBGRADER_EXECUTION"] = "validate"

    source_dir, html_dir, extra_dir = build_dir / "source", build_dir / "html", build_dir / "extra"
    names = write_sources(source_dir)
    write_downloads(extra_dir, names)
    # -W: a warning (a broken reference, a failed cell, a lesson missing from the index) fails the build.
    args = ["-b", "html", "-c", str(SITE_DIR), "-W", "--keep-going", "-d", str(build_dir / "doctrees"),
            "-D", f"nb_execution_cache_path={build_dir / 'jupyter_cache'}", "-D", f"html_extra_path={extra_dir}",
            str(source_dir), str(html_dir)]
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
