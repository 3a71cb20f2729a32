"""Write the test cells of `solutions/` from the checks they run: one source for code and docstring.

    python -m tools.test_cells [--write]

Every test cell runs one check of `course_check` twice: its visible part on public probes in the
student's kernel, its hidden part (`grader.checks.<module>`, the same function) on the grader's
probes. The cell's docstring is the summary of the check's own docstring, so what the cell says it
checks is what the check code does; the first test cell of an exercise adds the helpers its checks
replace by correct stand-ins while they run (its later test cells sit right under it). Without
`--write` this lists the cells that differ from their generated text
(tests/unit/test_course_check.py fails on any); with it, it rewrites them in `solutions/` (then
regenerate `course/` with `python -m grader release`).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path

import nbformat

from grader.release import write_notebook
from grader.settings import SOLUTIONS_DIR

HIDDEN_CALL = re.compile(
    r"### BEGIN HIDDEN TESTS\n"
    r"from grader\.checks import (?P<module>\w+) as hidden_checks\n"
    r"hidden_checks\.(?P<check>\w+)\((?P<subject>\w+)\)\n"
    r"### END HIDDEN TESTS"
)
WIDTH = 100


def _wrap(text: str, first: str) -> list[str]:
    words, lines, line = text.split(), [], first
    for word in words:
        if len(line) + 1 + len(word) > WIDTH and line.strip():
            lines.append(line)
            line = word
        else:
            line = line + word if line == first else f"{line} {word}"
    return lines + [line]


def docstring(module: str, check: str, subject: str, first: bool = True) -> str:
    """The docstring of a test cell: the check's summary, and (in the `first` test cell of the
    exercise only; its later cells sit right under it) the stand-ins its checks use.

    Short, because nbgrader's Validate repeats the source of every failing test cell above its
    message: the cell's last line already names the exercise, and that the visible checks run a
    part of the cases on public inputs is said by the line a passing check prints and in the
    students' README."""
    checks = importlib.import_module(f"course_check.{module}")
    text = " ".join(getattr(checks, check).__doc__.split("\n\n")[0].split())
    helpers = getattr(checks, "STAND_INS", {}).get(subject, ()) if first else ()
    if helpers:
        names = " and ".join(f"`{h}`" for h in helpers)
        text += f" With a correct {names} in place of yours."
    lines = _wrap(text, '"""')
    return "\n".join(lines) + '"""'


def visible_source(module: str, check: str, subject: str, first: bool = True) -> str:
    return (f"{docstring(module, check, subject, first)}\n"
            f"from course_check import {module} as checks\n"
            f"checks.{check}({subject})\n")


def generated(source: str, tested: set[str] | None = None) -> str | None:
    """The generated text of a test cell with this source (its hidden block decides), or None.

    `tested`: the exercises the notebook's earlier test cells test (this cell's is added to it);
    without it the cell is written as the first of its exercise."""
    found = HIDDEN_CALL.search(source)
    if not found:
        return None
    first = tested is None or found["subject"] not in tested
    if tested is not None:
        tested.add(found["subject"])
    return visible_source(**found.groupdict(), first=first) + "\n" + found.group(0)


def notebooks() -> list[Path]:
    return sorted(SOLUTIONS_DIR.glob("*/*.ipynb"))


def differing(write: bool = False) -> list[str]:
    """The grade_ids of test cells whose text is not the generated one (rewritten with `write`)."""
    found = []
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        changed, tested = False, set()
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            want = generated(cell.source, tested)
            if want is None:
                found.append(f"{path.parent.name}/{meta.get('grade_id')}: its hidden part is not one check call")
            elif cell.source != want:
                found.append(f"{path.parent.name}/{meta.get('grade_id')}")
                cell.source, changed = want, True
        if write and changed:
            write_notebook(nb, path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.test_cells", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the test cells in solutions/")
    args = parser.parse_args(argv)
    found = differing(write=args.write)
    for line in found:
        print(("rewrote " if args.write else "differs: ") + line)
    return 0 if args.write or not found else 1


if __name__ == "__main__":
    sys.exit(main())
