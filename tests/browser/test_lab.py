"""JupyterLab as students and instructors get it (Makefile `setup`, `make lab`, `make instructor-lab`),
driven in Chromium: the student flow on notebook 01, and formgrader on the course's gradebook."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, Server, free_port

pytestmark = pytest.mark.browser

BIN = Path(sys.executable).parent
KERNEL_DISPLAY_NAME = "Transformer course (Python 3.11)"
ALLOW_ROOT = ["--allow-root"] if os.geteuid() == 0 else []
IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
# What students must never meet: the nbgrader noise that issue #18 found in the students' lab.
NOISE = ["No nbgrader_config.py file found", "exchange directory does not exist", "Error fetching courses"]


def lab_env(tmp_path: Path) -> dict:
    """The environment's own Jupyter set-up and nothing from this machine's user (~/.jupyter)."""
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_PATH", "JUPYTER_PATH", "JUPYTER_DATA_DIR"):
        env.pop(name, None)
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "user-config")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["IPYTHONDIR"] = str(tmp_path / "ipython")
    return env


def lab_options(tmp_path: Path, port: int, token: str) -> list[str]:
    """A fresh workspace and settings folder per test: JupyterLab restores the last layout otherwise."""
    return [f"--port={port}", "--no-browser", f"--IdentityProvider.token={token}",
            f"--LabApp.workspaces_dir={tmp_path / 'lab-workspaces'}",
            f"--LabApp.user_settings_dir={tmp_path / 'lab-settings'}", *ALLOW_ROOT]


def test_make_lab_runs_as_root_and_as_a_user():
    """`make lab` passes --allow-root exactly when run as root (Jupyter refuses root without it)."""
    dry = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True)
    line = next((l for l in dry.stdout.splitlines() if re.search(r"jupyter lab\b", l)), None)
    assert line, f"`make -n lab` runs no `jupyter lab`:\n{dry.stdout}{dry.stderr}"
    assert "--ServerApp.root_dir=course" in line, line
    assert ("--allow-root" in line) == (os.geteuid() == 0), line


@pytest.fixture
def student_lab(tmp_path):
    """JupyterLab of the students' set-up on a copy of course/ (typing saves into the notebook)."""
    course = tmp_path / "course"
    shutil.copytree(ROOT / "course", course)
    port, token = free_port(), secrets.token_hex(16)
    server = Server([str(BIN / "jupyter"), "lab", f"--ServerApp.root_dir={course}", *lab_options(tmp_path, port, token)],
                    url=f"http://127.0.0.1:{port}/api/status?token={token}", log=tmp_path / "lab.log",
                    env=lab_env(tmp_path), cwd=course)
    server.base, server.token = f"http://127.0.0.1:{port}", token
    yield server
    server.stop()


def cell(page, text: str):
    """The notebook cell whose source contains `text`."""
    found = page.locator(".jp-Notebook .jp-Cell").filter(has=page.locator(".cm-content", has_text=text))
    assert found.count() == 1, f"expected one cell containing {text!r}, found {found.count()}"
    return found


def run_cell(page, target) -> None:
    target.locator(".jp-InputPrompt").first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(IDLE, timeout=60_000)
    page.wait_for_function("el => /\\[\\d+\\]/.test(el.innerText)", arg=target.locator(".jp-InputPrompt").first.element_handle(), timeout=60_000)


def solution_source(assignment: str, grade_id: str) -> str:
    notebook = json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text())
    source = next("".join(c["source"]) for c in notebook["cells"]
                  if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)
    return re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", "", source, flags=re.MULTILINE)


def test_student_flow_on_notebook_01(page, student_lab):
    steps = page.steps
    page.goto(f"{student_lab.base}/lab/tree/01_embeddings/01_embeddings.ipynb?token={student_lab.token}")
    kernel = page.locator(".jp-Toolbar-kernelName").first
    kernel.wait_for(timeout=60_000)
    page.wait_for_function("k => k.innerText.includes('Transformer course')", arg=kernel.element_handle(), timeout=60_000)
    page.wait_for_selector(IDLE, timeout=60_000)
    steps.shot("opened")
    assert KERNEL_DISPLAY_NAME in kernel.inner_text()

    # Students see no nbgrader menu and no instructor tools, only the Validate button.
    menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
    assert "Nbgrader" not in menus, f"students' menu bar offers nbgrader's menu: {menus}"
    assert page.locator("[title='Create Assignment'], #create_assignment").count() == 0
    validate = page.locator("jp-button[title='Validate Assignment']").first
    assert validate.is_visible(), "no Validate button in the notebook toolbar"

    # Run all: execution stops at the first exercise, with NotImplementedError where the code goes.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    error = page.locator(STDERR).first
    error.wait_for(timeout=120_000)
    page.wait_for_selector(IDLE, timeout=60_000)
    failing = page.locator(".jp-Notebook .jp-Cell").filter(has=page.locator(STDERR))
    assert failing.count() == 1, "run all should stop at the first error"
    failing.scroll_into_view_if_needed()
    steps.shot("run_all_first_error")
    assert "NotImplementedError" in error.inner_text()
    assert "build_vocabulary(" in failing.locator(".cm-content").inner_text(), "the first error is not at the first exercise"
    assert "YOUR CODE HERE" in error.inner_text() and "in build_vocabulary" in error.inner_text(), error.inner_text()

    # Type the answer (as a paste: typing would auto-indent) and run it, then its visible tests.
    exercise = cell(page, "def build_vocabulary(tokens):")
    exercise.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(solution_source("01_embeddings", "build_vocabulary"))
    steps.shot("answer_typed")
    run_cell(page, exercise)
    for test in ['build_vocabulary: "<pad>" -> 0', "build_vocabulary: Every distinct token once"]:
        target = cell(page, test)
        run_cell(page, target)
        assert target.locator(STDERR).count() == 0, f"the visible test {test!r} failed:\n{target.inner_text()}"
    steps.shot("visible_tests_pass")

    # Validate saves the notebook, runs it as the grader would and reports what still fails.
    validate.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=180_000)
    page.wait_for_function("d => !/Validating/.test(d.innerText)", arg=dialog.element_handle(), timeout=180_000)
    steps.shot("validate_result")
    result = dialog.inner_text()
    assert "encode" in result and "NotImplementedError" in result, f"validation should report the unsolved encode:\n{result}"
    assert "test_build_vocabulary" not in result, f"validation reports the solved build_vocabulary as failing:\n{result}"
    dialog.locator("button").last.click()

    assert not [m for m in NOISE if m in student_lab.output()], f"nbgrader noise in the server log:\n{student_lab.output()}"
    errors = [e for e in page.console_errors if "nbgrader" in e.lower() or "exchange" in e.lower()]
    assert not errors, f"nbgrader errors in the browser console: {errors}"


def test_instructor_lab_opens_formgrader_on_the_course(page, tmp_path):
    """`make instructor-lab` (lab/instructor.py): formgrader lists the course's assignments."""
    workspace = tmp_path / "workspace"
    port, token = free_port(), secrets.token_hex(16)
    server = Server([sys.executable, str(ROOT / "lab" / "instructor.py"), f"--workspace={workspace}",
                     *lab_options(tmp_path, port, token)],
                    url=f"http://127.0.0.1:{port}/api/status?token={token}", log=tmp_path / "lab.log",
                    env=lab_env(tmp_path), cwd=ROOT)
    try:
        page.goto(f"http://127.0.0.1:{port}/lab?token={token}")
        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click(timeout=60_000)
        page.steps.shot("nbgrader_menu")
        items = page.locator(".lm-Menu-itemLabel").all_inner_texts()
        assert "Formgrader" in items, f"the instructor's nbgrader menu: {items}"
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Formgrader$")).click()
        frame = page.frame_locator("iframe").first
        assignments = sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())
        frame.locator("text=" + assignments[0]).first.wait_for(timeout=60_000)
        page.steps.shot("formgrader")
        listed = frame.locator("body").inner_text()
        missing = [a for a in assignments if a not in listed]
        assert not missing, f"formgrader does not list {missing}:\n{listed}"
        assert not [m for m in NOISE if m in listed], f"formgrader shows nbgrader errors:\n{listed}"
        assert not [m for m in NOISE if m in server.output()], server.output()
    finally:
        server.stop()
