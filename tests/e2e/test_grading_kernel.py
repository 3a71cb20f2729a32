"""The grading kernel as the workspace starts it (grader/workspace.py, grader/sandboxed/kernel_startup.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path

import nbformat
import pytest

from grader.workspace import kernel_environment

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOY_SOURCE, KERNEL_PATH = FIXTURES / "solutions", FIXTURES / "kernel_path"


def test_grading_kernel_caps_memory_and_renders_no_figures(tmp_path):
    """A real grading kernel (our profile and environment): the address space is capped, and a
    plotting cell, `%matplotlib inline` included, runs without output, warning or open figure."""
    from nbclient import NotebookClient

    from grader.settings import KERNEL_NAME
    from grader.workspace import Workspace, environment

    workspace = Workspace(tmp_path / "ws")
    workspace.prepare(tmp_path)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import resource\nprint(resource.getrlimit(resource.RLIMIT_AS))"),
        nbformat.v4.new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\n"
                                  "plt.plot([1, 2, 3])\nplt.title('x')\nplt.show()"),
        nbformat.v4.new_code_cell("plt.imshow([[1, 2], [3, 4]])"),
        nbformat.v4.new_code_cell("print(len(plt.get_fignums()), plt.get_backend())"),
    ])
    with environment(**kernel_environment(workspace.ipython_dir, 3 * 2**30)):
        NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=60).execute()
    outputs = [cell.outputs for cell in nb.cells]
    assert outputs[0][0].text.strip() == f"({3 * 2**30}, {3 * 2**30})"
    assert outputs[1] == []  # nothing rendered, no "cannot be shown" warning on stderr
    assert [o.output_type for o in outputs[2]] == ["execute_result"]  # the AxesImage repr, no PNG
    assert outputs[3][0].text.strip() == "0 agg"


@pytest.mark.parametrize("sandboxed, in_loop", [(False, False), (True, False), (False, True)],
                         ids=["tcp", "sandbox-ipc", "inside-a-running-event-loop"])
def test_trusted_verdicts_ask_the_agent_over_its_line(tmp_path, monkeypatch, sandboxed, in_loop):
    """The hidden checks' requests travel over the agent's own socket (grader/boundary/line.py):
    the only cell the grader runs after the notebook installs the agent; verdicts are as before.
    Also when the caller's thread runs an event loop (nbclient then drives the kernel client from
    a thread of its own, whose loop reads iopub all the time)."""
    from traitlets.config import Config

    from grader.boundary.verdicts import TrustedExecute
    from grader.sandbox import Sandbox
    from grader.settings import KERNEL_NAME

    monkeypatch.syspath_prepend(str(KERNEL_PATH))  # the toy's hidden checks, imported here
    ran = []

    class Counting(TrustedExecute):
        def run_code(self, source):
            ran.append(source)
            return super().run_code(source)

    config = Config()
    if sandboxed:
        Sandbox().configure(config)
    nb = nbformat.read(TOY_SOURCE / "00_toy" / "00_toy.ipynb", as_version=4)
    wrong = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "square")
    wrong.source = "def square(x):\n    return x * x if x == 3 else x + x"
    executor = Counting(config=config, kernel_name=KERNEL_NAME, timeout=60, extra_arguments=["--IPKernelApp.log_level=ERROR"])

    def grade():
        executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})

    async def inside_a_loop():
        grade()

    # In a thread of its own, whose event loop is this test's to choose (a browser test may have left
    # one running in the main thread).
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        if in_loop:
            thread.submit(asyncio.run, inside_a_loop()).result()
        else:
            thread.submit(grade).result()
    assert list(executor.verdicts.values()) == [None, "square gave a wrong value for a hidden input: return x * x"]
    assert len(ran) == 1 and "Agent(" in ran[0], ran  # installing the agent; every request went over the line
