"""Issues 15 and 26: verdicts that are fair and sound. A batch graded next to honest controls.

Every cheat is a notebook of 02_attention whose exercises return zeros of the right shapes (the
`zeros` student, the baseline), plus one trick: a cell added after the set-up, or an exercise
written to smuggle in a ready-made implementation (any entry point of the same operation), or a
correct answer bound in a way the grader cannot read (those are flagged for review too). Each
must score no more than `zeros`. Honest notebooks keep full marks, ordinary Python included
(os, inspect, pickle, IPython.display, magics, ...); a student's exception text never reaches a
verdict; nobody's feedback page shows the hidden tests' source, a line of the solutions, or
markup a submission injected.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import textwrap
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from nbgrader.api import Grade, Gradebook

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

STABLE = ("def _stable(x, dim=-1):\n    e = torch.exp(x - x.amax(dim=dim, keepdim=True))\n"
          "    return e / e.sum(dim=dim, keepdim=True)\n")

# name -> (where: "cell" = a new cell after the set-up, or the exercise whose solution it replaces; code)
CHEATS = {
    "interactivity_all": ("cell", "get_ipython().ast_node_interactivity = 'all'\n"),
    "pre_run_displayhook": ("cell", "ip = get_ipython()\nip.events.register('pre_run_cell', lambda *a: ip.displayhook(1.0))\n"),
    "input_transformer_pass": ("cell", "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])\n"),
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
    "globals_injection": ("cell", "import torch\nglobals()['softmax'] = torch.softmax\n"),
    "rebinds_allclose": ("cell", "import torch\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"),
    "patches_agent": ("cell", "import sys, types\nclass Finder:\n    def find_spec(self, *a, **k):\n        return None\n"
                              "sys.meta_path.insert(0, Finder())\n"),
    "exec_hidden": ("softmax", "exec('import torch\\ndef softmax(x, dim=-1):\\n    return torch.softmax(x, dim)')\n"),
    "forged_partial_credit": ("cell", "from IPython.display import display\n"
                                      "import sys\nsys.displayhook = lambda value: print(1.0)\n"),
    "kills_kernel_when_called": ("softmax", "import os\ndef softmax(x, dim=-1):\n    os.kill(os.getpid(), 9)\n"),
    # A background thread reaching the agent through another module's `sys`, to switch its recorder off.
    "thread_alias_of_sys": ("cell", "import threading, os, time\ndef _meddle():\n    for _ in range(200):\n"
                                    "        agent = os.sys.modules.get('_transformer_course_sandboxed.kernel_agent')\n        time.sleep(0.01)\n"
                                    "threading.Thread(target=_meddle, daemon=True).start()\n"),
    # A correct softmax stand-in the checks lend to the attention exercise, kept for the softmax tests.
    "harvests_stand_in": ("scaled_dot_product_attention",
                          "_BOX = {}\ndef softmax(x, dim=-1, _box=_BOX):\n    if 'f' in _box:\n        return _box['f'](x, dim)\n"
                          "    return x * 0\n"
                          "def scaled_dot_product_attention(q, k, v, mask=None, _box=_BOX):\n"
                          "    if softmax.__name__ != 'softmax':  # the stand-in, not this notebook's own\n"
                          "        _box['f'] = softmax\n"
                          "    w = softmax(q @ k.transpose(-2, -1), dim=-1)\n    return w @ v, w\n"),
}
# Delegations: a correct answer handed to a ready-made implementation of the same operation.
DELEGATIONS = {
    "default_argument": ("softmax", "import torch\ndef softmax(x, dim=-1, _impl=torch.softmax):\n    return _impl(x, dim)\n"),
    "partial": ("softmax", "import functools, torch\nsoftmax = functools.partial(torch.softmax)\n"),
    "getattr_glued": ("softmax", "import torch\ndef softmax(x, dim=-1):\n    return getattr(torch, 'soft' + 'max')(x, dim)\n"),
    "library_reference": ("scaled_dot_product_attention",
                          "from transformer_reference.attention import scaled_dot_product_attention as _ref\n"
                          "def scaled_dot_product_attention(q, k, v, mask=None):\n    return _ref(q, k, v, mask)\n"),
    "private_entry": ("softmax", "def softmax(x, dim=-1):\n    return torch._softmax(x, dim, False)\n"),
    "aten_overload": ("softmax", "def softmax(x, dim=-1):\n    return torch.ops.aten._softmax.default(x, dim, False)\n"),
    "softmin": ("softmax", "import torch.nn.functional as F\ndef softmax(x, dim=-1):\n    return F.softmin(-x, dim=dim)\n"),
    "log_softmax_exp": ("softmax", "def softmax(x, dim=-1):\n    return torch.log_softmax(x, dim).exp()\n"),
    "course_check_oracle": ("softmax", "from course_check.attention import softmax64\n"
                                       "def softmax(x, dim=-1):\n    return softmax64(x, dim).to(x.dtype)\n"),
    "time_magic": ("softmax", "%time softmax = torch.softmax\n"),
    "capture_cell": ("softmax", "%%capture\ndef softmax(x, dim=-1):\n    return torch.softmax(x, dim)\n"),
}
# Correct code the text does not show how it runs: 0 points, and flagged for a person.
REVIEWED = {
    "for_target": ("softmax", STABLE + "for softmax in [_stable]:\n    pass\n"),
    "global_from_helper": ("softmax", "def _install():\n    global softmax\n"
                           + textwrap.indent(STABLE.replace("_stable", "softmax"), "    ") + "_install()\n"),
    "container": ("softmax", "_IMPL = {}\ndef softmax(x, dim=-1):\n    return _IMPL['f'](x, dim)\n" + STABLE
                  + "_IMPL['f'] = _stable\n"),
    "computed_getattr": ("softmax", "def softmax(x, dim=-1):\n    return getattr(torch, ''.join(reversed('xamtfos')))(x, dim)\n"),
    "run_magic": ("softmax", "%run -i helpers_that_do_not_exist.py\n" + STABLE + "softmax = _stable\n"),
    "defaults_of_another": ("softmax", "def _keeper(f=torch.softmax):\n    return f\n"
                                       "def softmax(x, dim=-1):\n    return _keeper.__defaults__[0](x, dim)\n"),
}
# Ordinary Python in an honest, solved notebook: never a point lost (each cost 100 % in wave 2).
ORDINARY = {
    "ipython_display": "from IPython import display\n",
    "getcwd": "import os\nprint(os.getcwd())\n",
    "simplenamespace_vars": "from types import SimpleNamespace\ncfg = SimpleNamespace(d_model=8)\nprint(vars(cfg))\n",
    "inspect": "import inspect\nprint(inspect.signature(print) is not None)\n",
    "threading_lock": "import threading\nlock = threading.Lock()\n",
    "weakref": "import weakref\nclass Box:\n    pass\nbox = Box()\nref = weakref.ref(box)\n",
    "pickle": "import pickle\nblob = pickle.dumps([1, 2, 3])\n",
    "getsizeof": "import sys\nprint(sys.getsizeof([1, 2, 3]))\n",
    "globals_listing": "print(len(sorted(globals())) > 0)\n",
    "cudnn_flags": "import torch\ntorch.backends.cudnn.deterministic = True\n",
    "param_named_eval": "def describe(value, eval=False):\n    return repr(value) if eval else str(value)\nprint(describe(3, eval=True))\n",
    "time_magics": "%time total = sum(range(10))\n",
}
LEAK = ("scaled_dot_product_attention",
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    raise ValueError('LEAK' + ','.join(f'{x:.6f}' for x in q.flatten()[:8].tolist()))\n")
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
    students.update({f"delegates_{name}": _notebook(released, reference, where, code)
                     for name, (where, code) in DELEGATIONS.items()})
    students.update({f"review_{name}": _notebook(released, reference, where, code) for name, (where, code) in REVIEWED.items()})
    students.update({f"ordinary_{name}": _notebook(released, reference, "cell", code, solved_all=True)
                     for name, code in ORDINARY.items()})
    students["leaks_inputs"] = _notebook(released, reference, *LEAK)
    for student, nb in students.items():
        path = subs / student / A / NB
        path.parent.mkdir(parents=True)
        write_notebook(nb, path)
    ws = tmp / "ws"
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        rc = main(["autograde", str(subs), "--workspace", str(ws), "--workers", "2", "--timeout", "20"])
    print(summary.getvalue())
    ungraded = set(re.findall(r"submitted/([^/\s]+)/" + A + ":", summary.getvalue().partition("could not grade")[2]))
    with Gradebook(f"sqlite:///{ws / 'gradebook.db'}") as gb:
        flagged = {(g.student.id, g.name) for g in gb.db.query(Grade).filter(Grade.needs_manual_grade == True)  # noqa: E712
                   .all()}
    assert main(["report", "--workspace", str(ws), "--out", str(tmp / "report")]) == 0
    assert main(["feedback", "--workspace", str(ws)]) == 0
    totals = {}
    for line in (tmp / "report" / "grades.csv").read_text().splitlines()[1:]:
        student, assignment, score, max_score = line.split(",")
        totals[student] = (float(score), float(max_score))
    return {"rc": rc, "ungraded": ungraded, "totals": totals, "ws": ws, "reference": reference, "flagged": flagged,
            "students": set(students)}


def test_every_submission_was_graded(graded):
    # only the kernel that kills itself cannot be graded: it is listed, and gets no grade
    assert graded["ungraded"] == {"cheat_kills_kernel_when_called"}, graded["ungraded"]
    assert graded["rc"] == 1
    assert set(graded["totals"]) == graded["students"] - graded["ungraded"]


def test_the_honest_student_keeps_full_marks(graded):
    score, max_score = graded["totals"]["honest"]
    assert score == max_score > 0


@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_no_cheat_scores_more_than_zeros(graded, cheat):
    zeros = graded["totals"]["zeros"][0]
    if f"cheat_{cheat}" in graded["ungraded"]:  # no grade at all (test_every_submission_was_graded)
        return
    score = graded["totals"][f"cheat_{cheat}"][0]
    assert score <= zeros, f"cheat_{cheat} scored {score}, more than a notebook of zeros ({zeros})"


@pytest.mark.parametrize("name", sorted(DELEGATIONS))
def test_no_delegation_scores_more_than_zeros(graded, name):
    zeros = graded["totals"]["zeros"][0]
    score = graded["totals"][f"delegates_{name}"][0]
    assert score <= zeros, f"delegates_{name} scored {score}, more than a notebook of zeros ({zeros})"


@pytest.mark.parametrize("name", sorted(REVIEWED))
def test_code_the_grader_cannot_read_scores_0_and_goes_to_a_person(graded, name):
    zeros = graded["totals"]["zeros"][0]
    student = f"review_{name}"
    assert graded["totals"][student][0] <= zeros, f"{student} kept points for code the grader cannot read"
    flagged = {cell for who, cell in graded["flagged"] if who == student}
    assert any(cell.startswith("test_softmax") for cell in flagged), f"{student}: no softmax test flagged ({flagged})"


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_python_keeps_full_marks(graded, name):
    score, max_score = graded["totals"][f"ordinary_{name}"]
    assert score == max_score > 0, f"ordinary_{name}: {score}/{max_score}"
    assert not [cell for who, cell in graded["flagged"] if who == f"ordinary_{name}"]


def test_a_student_s_exception_text_never_reaches_the_verdict(graded):
    graded_nb = nbformat.read(graded["ws"] / "autograded" / "leaks_inputs" / A / NB, as_version=4)
    cells = [c for c in graded_nb.cells
             if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_scaled_dot_product_attention")]
    assert cells
    errors = [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert any("LEAK" in o.evalue for o in errors), "the attack raises its text in the visible part (public inputs)"
    verdicts = [c.outputs[-1] for c in cells]  # the trusted verdict: the error output the grader appends
    assert all(o.output_type == "error" and "LEAK" not in o.evalue for o in verdicts), verdicts


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
        if page.parts[-3] in ("honest", "injects_html") or page.parts[-3].startswith("ordinary_"):
            continue  # their own code is the reference solution
        text = page.read_text()
        assert "hidden_checks" not in text, page
        leaked = [line for line in solution_lines if line in text]
        assert not leaked, f"{page}: {leaked[:2]}"
        assert len(text) < 2_000_000, f"{page} is {len(text)} bytes"


def test_every_cheat_names_the_reason(graded):
    page = (graded["ws"] / "feedback" / "cheat_settrace" / A / f"{A}.html").read_text()
    assert re.search(r"sys\.settrace", page), "the message names what was used"
    assert "instructor" in page, "and says a person will look at it"
    page = (graded["ws"] / "feedback" / "delegates_default_argument" / A / f"{A}.html").read_text()
    assert "torch.softmax" in page
