"""Committed notebooks are clean: valid JSON, no outputs, no execution counts, the course kernel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIRS = ("solutions", "course")
KERNELSPEC = {
    "name": "transformer-course",
    "display_name": "Transformer course (Python 3.11)",
    "language": "python",
}  # CONTRIBUTING.md "Notebook conventions"; `make` registers this kernel


def committed_notebooks() -> list[Path]:
    return sorted(
        path
        for folder in NOTEBOOK_DIRS
        for path in (ROOT / folder).rglob("*.ipynb")
        if ".ipynb_checkpoints" not in path.parts
    )


NOTEBOOKS = committed_notebooks()


def test_solution_notebooks_exist():
    """Guards the checks below against passing vacuously: they test nothing if no notebook is found."""
    found = [p for p in NOTEBOOKS if p.relative_to(ROOT).parts[0] == "solutions"]
    assert found, (
        "no notebook found under solutions/: expected while the notebooks have not landed yet, "
        "a bug afterwards (moved folder? wrong extension?)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_clean(path):
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        pytest.fail(f"{path.name} is not valid UTF-8 JSON: {error}")

    assert notebook.get("metadata", {}).get("kernelspec") == KERNELSPEC, (
        f"kernelspec must be exactly {KERNELSPEC}"
    )
    dirty = [
        index
        for index, cell in enumerate(notebook.get("cells", []))
        if cell.get("cell_type") == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"code cells {dirty} have outputs or an execution_count: clear them before committing "
        "(e.g. jupyter nbconvert --clear-output --inplace)"
    )
