"""The grading kernel as the workspace starts it (grader/workspace.py, grader/kernel_startup.py)."""

from __future__ import annotations

import nbformat

from grader.workspace import kernel_environment


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
