"""The balance of the notebooks, measured on the solution notebooks: CONTRIBUTING.md's table.

    .venv/bin/python -m tools.balance                          # print the table
    .venv/bin/python -m tools.balance --times TIMES.md         # with the seconds of benchmarks/notebook_times.py
    .venv/bin/python -m tools.balance --times TIMES.md --write # replace the table in CONTRIBUTING.md

Exercises: solution cells. Exercise lines: non-blank, non-comment lines between the solution
markers. Points: the test cells' points. Prose words: the words of the markdown cells (the
rules paragraph included). Seconds: the `wall seconds` and `kernel CPU seconds` columns of a
saved `benchmarks/notebook_times.py` table (grading schedule), if given.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- balance table: python -m tools.balance --write -->", "<!-- end of balance table -->"


@dataclass
class Balance:
    notebook: str
    exercises: int
    lines: int
    points: float
    prose_words: int


def measure(path: Path) -> Balance:
    nb = nbformat.read(path, as_version=4)
    exercises = lines = words = 0
    points = 0.0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown":
            words += len(re.findall(r"[A-Za-z][A-Za-z'’-]*", cell.source))
        if meta.get("solution"):
            exercises += 1
            inside = False
            for line in cell.source.splitlines():
                stripped = line.strip()
                if stripped == "### BEGIN SOLUTION":
                    inside = True
                elif stripped == "### END SOLUTION":
                    inside = False
                elif inside and stripped and not stripped.startswith("#"):
                    lines += 1
        if meta.get("grade") and not meta.get("solution"):
            points += meta.get("points", 0)
    return Balance(path.stem, exercises, lines, points, words)


def read_times(path: Path) -> dict[str, tuple[str, str]]:
    """{notebook: (wall seconds, kernel CPU seconds)} from a notebook_times.py table."""
    times = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"\d\d_\w+", cells[0]):
            times[cells[0]] = (cells[2], cells[3])
    return times


def table(times: dict[str, tuple[str, str]]) -> str:
    rows = [measure(p) for p in sorted((ROOT / "solutions").glob("*/*.ipynb"))]
    header = "| notebook | exercises | exercise lines | points | prose words |"
    rule = "|---|---:|---:|---:|---:|"
    if times:
        header += " wall seconds | kernel CPU seconds |"
        rule += "---:|---:|"
    out = [header, rule]
    for r in rows:
        line = f"| `{r.notebook}` | {r.exercises} | {r.lines} | {r.points:g} | {r.prose_words} |"
        if times:
            wall, cpu = times.get(r.notebook, ("-", "-"))
            line += f" {wall} | {cpu} |"
        out.append(line)
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=Path, help="a saved benchmarks/notebook_times.py table")
    parser.add_argument("--write", action="store_true", help="replace the table in CONTRIBUTING.md")
    args = parser.parse_args()
    text = table(read_times(args.times) if args.times else {})
    if not args.write:
        print(text)
        return
    contributing = ROOT / "CONTRIBUTING.md"
    source = contributing.read_text()
    start, end = source.index(BEGIN) + len(BEGIN), source.index(END)
    contributing.write_text(source[:start] + "\n" + text + "\n" + source[end:])
    print(f"wrote the balance table of {contributing}")


if __name__ == "__main__":
    main()
