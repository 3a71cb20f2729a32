"""Issue 15: no submission can forge a pass. A batch of cheats graded next to honest controls.

Every cheat is a notebook of 02_attention whose exercises return zeros of the right shapes (the
`zeros` student, the baseline), plus one trick: a cell added after the set-up, or an exercise
written to smuggle in a ready-made implementation. Each must score no more than `zeros`; the
honest student keeps full marks; nobody's feedback page shows the hidden tests' source, a line
of the solutions, or markup a submission injected.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from grader.cli import main
from grader.settings import COURSE_DIR, SOLUTIONS_DIR
from grader.release import write_notebook
from grader.sample import solved

pytestmark = pytest.mark.e2e

A = "02_attention"
NB = f"{A}.ipynb"

ZEROS = {
    "project_qkv": "def project_qkv(x, w_q, w_k, w_v):\n"
                   "    z = x[..., :1] * 0\n"
                   "    return z.expand(*x.shape[:-1], w_q.shape[1]) * 0, z.expand(*x.shape[:-1], w_k.shape[1]) * 0, "
                   "z.expand(*x.shape[:-1], w_v.shape[1]) * 0\n",
    "softmax": "def softmax(x, dim=-1):\n    return x * 0\n",
    "scaled_dot_product_attention": "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                                    "    w = (q @ k.transpose(-2, -1)) * 0\n    return w @ v, w\n",
}

# name -> (where: "cell" = a new cell after the set-up, or the exercise whose solution it replaces; code)
CHEATS = {
    "interactivity_all": ("cell", "get_ipython().ast_node_interactivity = 'all'\n"),
    "pre_run_displayhook": ("cell", "ip = get_ipython()\nip.events.register('pre_run_cell', lambda *a: ip.displayhook(1.0))\n"),
    "input_transformer_pass": ("cell", "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])\n"),
    "rebinds_checks": ("cell", "try:\n    import grader.checks.common as c\n    c.expect_close = lambda *a, **k: None\n"
                               "    c.check = lambda f: f\nexcept ImportError:\n    pass\n"),
    # The visible checks run in the kernel (course_check); disarming them there must not reach the grade.
    "rebinds_public_checks": ("cell", "import course_check.common as c\nc.expect_close = lambda *a, **k: None\n"
                                      "c.assert_untampered = lambda: None\n"),
    "gc_code_swap": ("cell", "import gc\nfor o in gc.get_objects():\n    if getattr(o, '__name__', '') == 'expect_close':\n"
                             "        o.__code__ = (lambda *a, **k: None).__code__\n"),
    "settrace": ("cell", "import sys\nsys.settrace(lambda frame, event, arg: None)\n"),
    "tensor_subclass_frames": ("scaled_dot_product_attention",
                               "import torch\nclass Sneaky(torch.Tensor):\n"
                               "    @classmethod\n    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                               "        import sys\n        f = sys._getframe(1)\n"
                               "        return f.f_locals.get('expected', super().__torch_function__(func, types, args, kwargs or {}))\n"
                               "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                               "    w = ((q @ k.transpose(-2, -1)) * 0).as_subclass(Sneaky)\n    return w @ v, w\n"),
    "tensor_always_equal": ("softmax",
                            "import torch\nclass Same(torch.Tensor):\n    def __eq__(self, other):\n        return True\n"
                            "    def allclose(self, *a, **k):\n        return True\n"
                            "def softmax(x, dim=-1):\n    return (x * 0).as_subclass(Same)\n"),
    "default_argument": ("softmax", "import torch\ndef softmax(x, dim=-1, _impl=torch.softmax):\n    return _impl(x, dim)\n"),
    "partial": ("softmax", "import functools, torch\nsoftmax = functools.partial(torch.softmax)\n"),
    "getattr_glued": ("softmax", "import torch\ndef softmax(x, dim=-1):\n    return getattr(torch, 'soft' + 'max')(x, dim)\n"),
    "library_reference": ("scaled_dot_product_attention",
                          "from transformer_reference.attention import scaled_dot_product_attention as _ref\n"
                          "def scaled_dot_product_attention(q, k, v, mask=None):\n    return _ref(q, k, v, mask)\n"),
    "globals_injection": ("cell", "import torch\nglobals()['softmax'] = torch.softmax\n"),
    "rebinds_allclose": ("cell", "import torch\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"),
    "patches_agent": ("cell", "import sys, types\nclass Finder:\n    def find_spec(self, *a, **k):\n        return None\n"
                              "sys.meta_path.insert(0, Finder())\n"),
    "exec_hidden": ("softmax", "exec('import torch\\ndef softmax(x, dim=-1):\\n    return torch.softmax(x, dim)')\n"),
    "forged_partial_credit": ("cell", "from IPython.display import display\n"
                                      "import sys\nsys.displayhook = lambda value: print(1.0)\n"),
    "kills_kernel_when_called": ("softmax", "import os\ndef softmax(x, dim=-1):\n    os.kill(os.getpid(), 9)\n"),
}
SCRIPT = "<script>alert('pwned')</script>"
INJECTS_HTML = ("cell", "from IPython.display import HTML, display\n"
                        f"display(HTML(\"<b>hi</b>{SCRIPT}<img src=x onerror=alert(1)>\"))\nprint(\"{SCRIPT}\")\n")


def _notebook(released, reference, where: str | None = None, code: str | None = None, solved_all=False):
    nb = solved(released, reference) if solved_all else copy.deepcopy(released)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if not solved_all and grade_id in ZEROS:
            cell.source = ZEROS[grade_id]
        if where is not None and where == grade_id:
            cell.source = code
    if where == "cell":
        first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        nb.cells.insert(first_code + 1, nbformat.v4.new_code_cell(code))
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cheats")
    released = nbformat.read(COURSE_DIR / A / NB, as_version=4)
    reference = nbformat.read(SOLUTIONS_DIR / A / NB, as_version=4)
    subs = tmp / "submitted"
    students = {"honest": _notebook(released, reference, solved_all=True),
                "zeros": _notebook(released, reference),
                "injects_html": _notebook(released, reference, *INJECTS_HTML, solved_all=True)}
    students.update({f"cheat_{name}": _notebook(released, reference, where, code) for name, (where, code) in CHEATS.items()})
    for student, nb in students.items():
        path = subs / student / A / NB
        path.parent.mkdir(parents=True)
        write_notebook(nb, path)
    ws = tmp / "ws"
    rc = main(["autograde", str(subs), "--workspace", str(ws), "--workers", "2", "--timeout", "20"])
    assert main(["report", "--workspace", str(ws), "--out", str(tmp / "report")]) == 0
    assert main(["feedback", "--workspace", str(ws)]) == 0
    totals = {}
    for line in (tmp / "report" / "grades.csv").read_text().splitlines()[1:]:
        student, assignment, score, max_score = line.split(",")
        totals[student] = (float(score), float(max_score))
    return {"rc": rc, "totals": totals, "ws": ws, "reference": reference}


def test_the_honest_student_keeps_full_marks(graded):
    score, max_score = graded["totals"]["honest"]
    assert score == max_score > 0


@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_no_cheat_scores_more_than_zeros(graded, cheat):
    zeros = graded["totals"]["zeros"][0]
    score = graded["totals"].get(f"cheat_{cheat}", (0.0, 0.0))[0]
    assert score <= zeros, f"cheat_{cheat} scored {score}, more than a notebook of zeros ({zeros})"


def test_injected_markup_is_inert_and_honest_grades_hold(graded):
    score, max_score = graded["totals"]["injects_html"]
    assert score == max_score, "printing or displaying HTML costs no points"
    page = BeautifulSoup((graded["ws"] / "feedback" / "injects_html" / A / f"{A}.html").read_text(), "html.parser")
    assert not [s for s in page.find_all("script") if "pwned" in s.get_text()], "a displayed <script> reached the page"
    assert not page.find_all(attrs={"onerror": True}), "an event handler attribute reached the page"
    assert "pwned" in page.get_text(), "the printed text is still shown, as text"


def test_feedback_shows_no_hidden_tests_or_solution_lines(graded):
    solution_lines = {
        line.strip() for cell in graded["reference"].cells
        if cell.metadata.get("nbgrader", {}).get("solution")
        for line in cell.source.splitlines()
        if len(line.strip()) > 25 and "###" not in line and not line.strip().startswith(('"""', "def ", "returns", "q:", "k:", "v:", "x:"))
    }
    assert solution_lines
    for page in sorted((graded["ws"] / "feedback").glob(f"*/{A}/{A}.html")):
        if page.parts[-3] in ("honest", "injects_html"):
            continue  # their own code is the reference solution
        text = page.read_text()
        assert "hidden_checks" not in text, page
        leaked = [line for line in solution_lines if line in text]
        assert not leaked, f"{page}: {leaked[:2]}"
        assert len(text) < 2_000_000, f"{page} is {len(text)} bytes"


def test_every_cheat_names_the_reason(graded):
    page = (graded["ws"] / "feedback" / "cheat_settrace" / A / f"{A}.html").read_text()
    assert re.search(r"sys\.settrace", page), "the tampering message names what was used"
    page = (graded["ws"] / "feedback" / "cheat_default_argument" / A / f"{A}.html").read_text()
    assert "torch.softmax" in page
