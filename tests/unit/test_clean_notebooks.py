"""Committed notebooks are clean: valid JSON, no outputs, no execution counts, the course kernel,
and the complete `language_info` a kernel writes (so JupyterLab does not mark them modified on opening)."""

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
# The fields of language_info that an IPython kernel's kernel_info reply carries. JupyterLab writes the
# reply into the notebook when the kernel starts: a notebook missing any of them is marked modified as
# soon as it is opened. (`version` is the kernel's Python version, 3.11.x here.)
LANGUAGE_INFO_FIELDS = ("name", "version", "mimetype", "file_extension", "pygments_lexer",
                        "codemirror_mode", "nbconvert_exporter")


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_has_complete_language_info(path):
    """language_info as the course kernel reports it: every field present, Python 3.11."""
    info = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("language_info", {})
    missing = [field for field in LANGUAGE_INFO_FIELDS if field not in info]
    assert not missing, (
        f"language_info lacks {missing}: JupyterLab would add them from the kernel and mark the notebook "
        "modified on opening; copy them from the kernel's kernel_info reply (CONTRIBUTING.md)"
    )
    assert info["name"] == "python" and info["file_extension"] == ".py", f"not a Python notebook: {info}"
    assert str(info["version"]).startswith("3.11."), f"language_info.version should be the kernel's Python 3.11.x, got {info['version']}"
    assert info["codemirror_mode"] == {"name": "ipython", "version": 3}, f"codemirror_mode: {info['codemirror_mode']}"


@pytest.mark.e2e
def test_language_info_is_what_the_course_kernel_reports():
    """The committed language_info equals the course kernel's own kernel_info reply (its version to the minor)."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name=KERNELSPEC["name"])
    try:
        reply = client.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    minor = lambda info: {**info, "version": ".".join(str(info["version"]).split(".")[:2])}
    for path in NOTEBOOKS:
        info = json.loads(path.read_text(encoding="utf-8"))["metadata"]["language_info"]
        assert minor(info) == minor(reply), f"{path.relative_to(ROOT)}: language_info {info}, the kernel reports {reply}"
