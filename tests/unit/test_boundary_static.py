"""The grader's static reading of a submission (grader/boundary/static.py): delegation and tampering."""

from pathlib import Path

import nbformat
import pytest

from grader.boundary import static

ROOT = Path(__file__).resolve().parents[2]
SOFTMAX = ["torch.softmax", "torch.nn.functional.softmax", "torch.special.softmax", "torch.Tensor.softmax"]
ATTENTION = ["torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention"]
SETUP = "import math\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n"


def delegates(code: str, name="softmax", forbidden=SOFTMAX, reference="softmax"):
    return static.delegation([SETUP, code], name, forbidden, reference)


@pytest.mark.parametrize("code", [
    "def softmax(x, dim=-1):\n    return torch.softmax(x, dim)",
    "def softmax(x, dim=-1):\n    return F.softmax(x, dim=dim)",
    "def softmax(x, dim=-1):\n    return x.softmax(dim)",
    "sm = torch.softmax\ndef softmax(x, dim=-1):\n    return sm(x, dim)",
    "from torch.nn.functional import softmax as s\ndef softmax(x, dim=-1):\n    return s(x, dim)",
    "def softmax(x, dim=-1, _f=torch.softmax):\n    return _f(x, dim)",
    "import functools\nsoftmax = functools.partial(torch.softmax)",
    "def softmax(x, dim=-1):\n    return getattr(torch, 'soft' + 'max')(x, dim)",
    "def softmax(x, dim=-1):\n    return eval('torch.softmax')(x, dim)",
    "def helper(x, dim):\n    return torch.nn.functional.softmax(x, dim)\ndef softmax(x, dim=-1):\n    return helper(x, dim)",
    "softmax = lambda x, dim=-1: torch.special.softmax(x, dim)",
    "from transformer_reference import softmax as ref\ndef softmax(x, dim=-1):\n    return ref(x, dim)",
    "import transformer_reference.attention as ta\ndef softmax(x, dim=-1):\n    return ta.softmax(x, dim)",
    "import importlib\ndef softmax(x, dim=-1):\n    return importlib.import_module('torch').softmax(x, dim)",
])
def test_delegation_is_found_however_it_is_written(code):
    assert delegates(code), code


@pytest.mark.parametrize("code", [
    "def softmax(x, dim=-1):\n    z = x - x.amax(dim=dim, keepdim=True)\n    e = torch.exp(z)\n    return e / e.sum(dim=dim, keepdim=True)",
    "def softmax(x, dim=-1):\n    return torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True))",
    # A local variable that happens to share a name with a notebook-level binding is not followed.
    "model = torch.softmax\ndef softmax(x, dim=-1):\n    model = x.exp()\n    return model / model.sum(dim, keepdim=True)",
])
def test_own_implementations_are_not_refused(code):
    assert delegates(code) is None, code


def test_earlier_components_from_the_library_are_allowed():
    code = ("from transformer_reference import scaled_dot_product_attention\n"
            "class MultiHeadAttention(nn.Module):\n"
            "    def forward(self, q, k, v, mask=None):\n"
            "        out, _ = scaled_dot_product_attention(q, k, v, mask)\n"
            "        return out\n")
    assert static.delegation([SETUP, code], "MultiHeadAttention", ATTENTION, "MultiHeadAttention") is None
    inherits = "class MultiHeadAttention(nn.MultiheadAttention):\n    pass\n"
    assert static.delegation([SETUP, inherits], "MultiHeadAttention", ATTENTION, "MultiHeadAttention")


@pytest.mark.parametrize("code", [
    "get_ipython().ast_node_interactivity = 'all'",
    "import sys\nsys.settrace(lambda *a: None)",
    "import gc\nfor o in gc.get_objects(): pass",
    "globals()['softmax'] = torch.softmax",
    "torch.allclose = lambda *a, **k: True",
    "setattr(torch, 'allclose', lambda *a, **k: True)",
    "import sys\nagent = sys.modules['_transformer_course_agent']",
    "def f(g):\n    g.__code__ = (lambda: 1).__code__",
    "import builtins\nbuiltins.isinstance = lambda *a: True",
    "exec('x = 1')",
    "import ctypes",
    "import os\nos._exit(0)",
    "import IPython\nIPython.get_ipython().input_transformers_post.append(lambda lines: [])",
])
def test_tampering_is_found(code):
    assert static.tampering([SETUP, code]), code


@pytest.mark.parametrize("folder", ["solutions", "course"])
def test_the_course_itself_is_not_tampering(folder):
    for path in sorted((ROOT / folder).glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert static.tampering(code) is None, path
