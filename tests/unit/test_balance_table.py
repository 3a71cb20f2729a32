"""CONTRIBUTING.md's balance table says what `python -m tools.balance` measures on solutions/."""

from __future__ import annotations

import re
from pathlib import Path

from tools.balance import BEGIN, END, measure

ROOT = Path(__file__).resolve().parents[2]


def test_balance_table_matches_the_solution_notebooks():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    table = text[text.index(BEGIN) + len(BEGIN): text.index(END)]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and re.fullmatch(r"`\d\d_\w+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1:5]
    notebooks = sorted((ROOT / "solutions").glob("*/*.ipynb"))
    assert sorted(rows) == [p.stem for p in notebooks]
    for path in notebooks:
        b = measure(path)
        assert rows[path.stem] == [str(b.exercises), str(b.lines), f"{b.points:g}", str(b.prose_words)], (
            f"{path.stem}: CONTRIBUTING.md says {rows[path.stem]}; run `python -m tools.balance --times ... --write`"
        )
