"""The grader's rooms import downwards only, and importing any of them changes nothing.

Layers, top to bottom (ARCHITECTURE.md): a module may import grader modules of lower layers only,
never one of its own layer or above. `grader.checks` sits below every grader module but the kernel
start-up file, and imports only `grader.checks.*`, the libraries (`transformer_reference`, and
`course_check`, which holds the checks' code), and the proxy side of the trust boundary
(`grader.boundary.remote`: how a student's object in the kernel is seen; the submitted text is
read by `course_check.reading`), which import no grader module above them. What runs inside the
sandbox (`grader.sandboxed`) imports no grader module at all.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GRADER = Path(__file__).resolve().parents[2] / "grader"

LAYERS = {
    "grader.cli": 7,
    "grader.__main__": 8,
    "grader.autograde": 6,
    "grader.sample": 6,
    "grader.release": 4,
    "grader.feedback": 4,
    "grader.report": 4,
    "grader.review": 2,
    "grader.roster": 1,
    "grader.similarity": 1,
    "grader.dask_workers": 5.5,  # between autograde and execution: the Dask side of running tasks
    "grader.execution": 5,
    "grader.grading_preload": 6,  # imported by name only: the fork server of grader.execution loads it
    "grader.forked": 4,
    "grader.runner": 3,
    "grader.sandbox": 3,
    "grader.boundary.verdicts": 2,
    "grader.boundary.remote": 1,
    "grader.boundary.line": 1,
    "grader.boundary.sanitize": 0,
    "grader.boundary": 0,
    "grader.workspace": 2,
    "grader.gradebook": 1,
    "grader.intake": 1,
    "grader.settings": 0,
    # Runs inside the sandbox (grader/sandboxed/): imports no grader module, only its own folder.
    "grader.sandboxed": 0,
    "grader.sandboxed.codec": 0,  # the wire codec: imported by both sides
    "grader.sandboxed.kernel_agent": 0,
    "grader.sandboxed.warm_parent": 0,
}
KERNEL_SIDE = {"grader.sandboxed.kernel_startup"}  # runs in the kernel; imported by nobody
CHECKS_MAY_USE = {"grader.boundary", "grader.boundary.remote", "grader.sandboxed", "grader.sandboxed.codec",
                  "grader.sandboxed.kernel_agent"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(GRADER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in GRADER.rglob("*.py"))


def grader_imports(name: str) -> set[str]:
    """The grader modules `name` imports anywhere in its source (top level or inside functions)."""
    path = GRADER.parent / (name.replace(".", "/") + ".py")
    if not path.exists():
        path = GRADER.parent / name.replace(".", "/") / "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {module for module in found if module in MODULES and module != name}


def test_every_grader_module_has_a_layer():
    unplaced = [m for m in MODULES if m not in LAYERS and m not in KERNEL_SIDE
                and m != "grader" and not m.startswith("grader.checks")]
    assert not unplaced, f"put these modules in a layer of LAYERS: {unplaced}"


@pytest.mark.parametrize("name", [m for m in MODULES if m in LAYERS])
def test_grader_module_imports_point_down(name):
    upward = {m for m in grader_imports(name) if m in LAYERS and LAYERS[m] >= LAYERS[name]}
    assert not upward, f"{name} (layer {LAYERS[name]}) imports {sorted(upward)} of the same layer or above"


@pytest.mark.parametrize("name", [m for m in MODULES if m.startswith("grader.checks")])
def test_checks_import_only_checks_and_the_library(name):
    outside = {m for m in grader_imports(name) if not m.startswith("grader.checks") and m not in CHECKS_MAY_USE}
    assert not outside, f"{name} imports {sorted(outside)}: the checks must not depend on the grader"


def test_nothing_imports_the_kernel_startup_file():
    importers = [m for m in MODULES if KERNEL_SIDE & grader_imports(m)]
    assert not importers, importers


@pytest.mark.parametrize("path", sorted((GRADER / "sandboxed").glob("*.py")), ids=lambda p: p.name)
def test_sandboxed_files_need_only_the_standard_library_and_their_folder(path):
    """grader/sandboxed/ runs inside the sandbox, which cannot see grader/ (grader/sandbox.py): no
    file there imports a grader module, and at its top level only the standard library and (relatively)
    a file of its own folder; numpy, torch and IPython are the kernel's, imported inside functions."""
    tree = ast.parse(path.read_text(), str(path))
    wrong = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            wrong += [alias.name for alias in node.names if alias.name.split(".")[0] == "grader"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.split(".")[0] == "grader":
            wrong.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level and not (node.level == 1 and node.module
                                                                        and (path.parent / f"{node.module}.py").exists()):
            wrong.append("." * node.level + (node.module or ""))
    for node in tree.body:
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
        wrong += [name for name in names if name.split(".")[0] not in sys.stdlib_module_names | {"__future__"}]
    assert not wrong, f"{path.name} imports {wrong}, which the sandbox does not have"


IMPORT_ALL = (
    "import importlib, json, os, sys\n"
    "before = (dict(os.environ), os.getcwd())\n"
    "changed = []\n"
    "for name in sys.argv[1:]:\n"
    "    importlib.import_module(name)\n"
    "    if (dict(os.environ), os.getcwd()) != before:\n"
    "        changed.append(name)\n"
    "        before = (dict(os.environ), os.getcwd())\n"
    "print(json.dumps(changed))\n"
)
COUNT_THREADS = ("import os, numpy, torch\n"
                 "print(len(os.listdir('/proc/self/task')))\n"
                 "import grader.grading_preload\n"
                 "print(len(os.listdir('/proc/self/task')))\n")


@pytest.fixture(scope="module")
def fresh_interpreters():
    """The two fresh interpreters of the tests below, started together (each spends seconds
    importing torch): {name: Popen}, killed at the end if a test did not wait for it."""
    importable = [m for m in MODULES if m not in KERNEL_SIDE and m != "grader.__main__"]
    started = {
        # without the venv's bin, as an unactivated venv
        "import_all": subprocess.Popen([sys.executable, "-c", IMPORT_ALL, *importable], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, cwd=GRADER.parent,
                                       env={**os.environ, "PATH": "/usr/bin:/bin"}),
        "count_threads": subprocess.Popen([sys.executable, "-c", COUNT_THREADS], stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True, cwd=GRADER.parent,
                                          env={**os.environ, "OMP_NUM_THREADS": "2"}),
    }
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
        process.communicate()


def _finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_every_module_imports_without_side_effects(fresh_interpreters):
    """All modules import in one fresh interpreter (the layers above already rule out circles) and
    leave the environment (PATH included) and the working directory as they were."""
    run = _finish(fresh_interpreters["import_all"])
    assert run.returncode == 0, f"importing the grader failed:\n{run.stderr}"
    assert json.loads(run.stdout.strip().splitlines()[-1]) == [], "these imports changed the environment"


def test_grading_preload_starts_no_thread(fresh_interpreters):
    """The fork server imports grader.grading_preload and then forks every grading process: a thread
    (torch's pools, say) running in it at that point would be missing, or stuck, in the children.
    (NumPy's OpenBLAS starts OMP_NUM_THREADS - 1 threads at import and restarts them after a fork:
    counted before.) With two threads per pool, a torch operation would start one more."""
    run = _finish(fresh_interpreters["count_threads"])
    assert run.returncode == 0, f"importing grader.grading_preload failed:\n{run.stderr}"
    before, after = run.stdout.split()
    assert after == before, f"threads: {before} after importing numpy and torch, {after} after grader.grading_preload"
