"""The course's checks: what every test cell runs, in your notebook and in the grader.

One module per notebook (`embeddings`, `attention`, `masking`, `multihead`, `cross_attention`,
`add_norm`, `output`, `capstone`), each a set of `@check` functions that take your function or
class, build their own inputs, compare with an independent float64 oracle and raise
`AssertionError` naming the mistake they recognise (`common.py` holds the shared toolkit).

- In a notebook, the visible part of a test cell runs a check on the public probes.
- The grader runs the same checks on its own probes (`grader/checks/`): every case, other inputs.
- `python -m course_check 02_attention my_notebook.ipynb`, or `check("02_attention")` in a notebook
  cell, runs every case on fresh random inputs.

This package knows nothing of the grader; the grader plugs its trust boundary into `boundary.py`.
"""


def check(assignment: str, notebook=None, seed: int | None = None) -> bool:
    """In a notebook cell: run every case of this notebook's checks on fresh inputs (see self_check.py)."""
    from course_check.self_check import check as run

    return run(assignment, notebook, seed)
