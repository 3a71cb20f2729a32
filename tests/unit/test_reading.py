"""The reading of a submission's text (lib/course_check/reading.py): what each exercise reaches.

Three verdicts, each with the classes of code the wave-3 trials found: ordinary Python is never a
finding; a ready-made implementation of the subject, however it is reached, is a delegation; code
the reader cannot follow (or that reaches the grading machinery) is unreadable, for a person to
review.
"""

import re
from pathlib import Path

import nbformat
import pytest

from course_check import reading

ROOT = Path(__file__).resolve().parents[2]
SETUP = "import math\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
OWN_SOFTMAX = ("def softmax_with_temperature(x, temperature=1.0):\n"
               "    z = x / temperature\n"
               "    e = torch.exp(z - z.amax(dim=-1, keepdim=True))\n"
               "    return e / e.sum(dim=-1, keepdim=True)\n")
NAME = "softmax_with_temperature"


def read(*cells: str) -> reading.Reading:
    return reading.Reading([SETUP, *cells])


def delegates(*cells: str, name=NAME, subject="softmax", reference="softmax_with_temperature"):
    return read(*cells).delegation(name, subject, reference)


def unreadable(*cells: str, name=NAME):
    return read(*cells).unreadable(name)


# Ordinary Python anywhere in an honest notebook: each of these cost a whole assignment in wave 2.
HONEST = [
    "from IPython import display",
    "from IPython.display import display, HTML\ndisplay(HTML('<b>hi</b>'))",
    "import IPython.display as ipd",
    "from IPython.core.display import Markdown",
    "import os\nprint(os.getcwd())",
    "import os\nos.makedirs('out', exist_ok=True)\nprint(os.listdir('.'))",
    "from types import SimpleNamespace\ncfg = SimpleNamespace(d_model=8)",
    "import inspect\nprint(inspect.signature(softmax_with_temperature))",
    "import inspect\nprint(inspect.getsource(softmax_with_temperature))",
    "import threading\nlock = threading.Lock()",
    "import weakref\nr = weakref.ref(cfg)" if False else "import weakref\nclass A: pass\na = A()\nr = weakref.ref(a)",
    "import pickle\nblob = pickle.dumps([1, 2])",
    "import sys\nprint(sys.getsizeof([1, 2, 3]))",
    "import sys\nsys.path.append('..')\nprint(sys.version_info)",
    "print(sorted(globals()))",
    "print(sorted(k for k in globals() if not k.startswith('_')))",
    "from types import SimpleNamespace\ncfg = SimpleNamespace(lr=0.1)\nprint(vars(cfg))",
    "torch.backends.cudnn.deterministic = True\ntorch.backends.cudnn.benchmark = False",
    "def evaluate(model, eval=True):\n    return eval",
    "%matplotlib inline\nimport matplotlib.pyplot as plt",
    "%time y = softmax_with_temperature(torch.randn(3, 4))",
    "%%time\ny = softmax_with_temperature(torch.randn(3, 4))",
    "%timeit -n 3 softmax_with_temperature(torch.randn(3, 4))",
    "!ls\nfiles = !ls",
    "%load_ext autoreload\n%autoreload 2",
    "softmax_with_temperature?",
    "import gc\ngc.collect()",
    "import time\nt0 = time.perf_counter()",
    "import random\nrandom.seed(0)\nimport numpy as np\nnp.random.seed(0)\ntorch.manual_seed(0)",
    "import matplotlib.pyplot as plt\nplt.rcParams['figure.figsize'] = (6, 4)",
    "losses = []\nfor step in range(3):\n    losses.append(step)",
    "import warnings\nwarnings.filterwarnings('ignore')",
    "import logging\nlogging.getLogger().setLevel(logging.INFO)",
    "import json, copy, itertools, collections, functools, dataclasses, typing",
    "try:\n    import einops\nexcept ImportError:\n    einops = None",
    "with torch.no_grad():\n    y = softmax_with_temperature(torch.randn(2, 3))",
    "import multiprocessing\nprint(os.cpu_count()) if False else None",
    "%%capture out\nprint('quiet')",
    "from course_check import check\ncheck('07_output')",
    "print(eval('1 + 2 * 3'))",
]


@pytest.mark.parametrize("code", HONEST)
def test_ordinary_python_is_never_a_finding(code):
    cells = [OWN_SOFTMAX, code]
    assert unreadable(*cells) is None, code
    assert delegates(*cells) is None, code


# Ordinary dynamic code inside an exercise stays readable.
@pytest.mark.parametrize("code", [
    "class MoE(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        for i in range(n):\n"
    "            setattr(self, f'expert{i}', nn.Linear(4, 4))\n        self.n = n\n"
    "    def forward(self, x):\n        return sum(getattr(self, f'expert{i}')(x) for i in range(self.n))\n",
    "ACTIVATIONS = {'relu': torch.relu, 'gelu': F.gelu}\n"
    "class MoE(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.experts = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])\n"
    "    def forward(self, x, act='relu'):\n        return sum(ACTIVATIONS[act](e(x)) for e in self.experts)\n",
    "class MoE(nn.Module):\n    def forward(self, x):\n        return self.__class__.__name__, x\n",
])
def test_ordinary_dynamic_code_in_an_exercise_is_readable(code):
    assert unreadable(code, name="MoE") is None
    assert delegates(code, name="MoE", subject="none", reference="MixtureOfExperts") is None


DELEGATIONS = [
    "def softmax_with_temperature(x, t=1.0):\n    return torch.softmax(x / t, -1)",
    "def softmax_with_temperature(x, t=1.0):\n    return F.softmax(x / t, dim=-1)",
    "def softmax_with_temperature(x, t=1.0):\n    return (x / t).softmax(-1)",
    "sm = torch.softmax\ndef softmax_with_temperature(x, t=1.0):\n    return sm(x / t, -1)",
    "from torch.nn.functional import softmax as s\ndef softmax_with_temperature(x, t=1.0):\n    return s(x / t, -1)",
    "def softmax_with_temperature(x, t=1.0, _f=torch.softmax):\n    return _f(x / t, -1)",
    "import functools\nsoftmax_with_temperature = functools.partial(torch.softmax, dim=-1)",
    "def softmax_with_temperature(x, t=1.0):\n    return getattr(torch, 'soft' + 'max')(x / t, -1)",
    "def helper(x):\n    return torch.nn.functional.softmax(x, -1)\ndef softmax_with_temperature(x, t=1.0):\n    return helper(x / t)",
    "softmax_with_temperature = lambda x, t=1.0: torch.special.softmax(x / t, -1)",
    # private and other entry points of the same operation
    "def softmax_with_temperature(x, t=1.0):\n    return torch._softmax(x / t, -1, False)",
    "def softmax_with_temperature(x, t=1.0):\n    return torch._C._VariableFunctions.softmax(x / t, -1)",
    "def softmax_with_temperature(x, t=1.0):\n    return torch.ops.aten._softmax.default(x / t, -1, False)",
    "def softmax_with_temperature(x, t=1.0):\n    return torch._C._jit_get_operation('aten::_softmax')[0](x / t, -1, False)",
    "def softmax_with_temperature(x, t=1.0):\n    return torch._C._nn.log_softmax(x / t, -1).exp()",
    # equivalent ready-made operations
    "def softmax_with_temperature(x, t=1.0):\n    return F.softmin(-x / t, dim=-1)",
    "def softmax_with_temperature(x, t=1.0):\n    return torch.log_softmax(x / t, -1).exp()",
    "def softmax_with_temperature(x, t=1.0):\n    return nn.Softmax(dim=-1)(x / t)",
    "from scipy.special import softmax as s\ndef softmax_with_temperature(x, t=1.0):\n    return torch.as_tensor(s(x.numpy() / t, -1))",
    "def softmax_with_temperature(x, t=1.0):\n    return torch.distributions.Categorical(logits=x / t).probs",
    "from torch.distributions.utils import logits_to_probs\ndef softmax_with_temperature(x, t=1.0):\n    return logits_to_probs(x / t)",
    "def softmax_with_temperature(x, t=1.0):\n    return torch.distributions.OneHotCategorical(logits=x / t).probs",
    "def softmax_with_temperature(x, t=1.0):\n    y = (x / t).reshape(-1, x.shape[-1])\n    cols = [torch.exp(-F.cross_entropy(y, "
    "torch.full((len(y),), j), reduction='none')) for j in range(y.shape[-1])]\n    return torch.stack(cols, -1).reshape(x.shape)",
    # the course's own implementations
    "from course_check.output import _softmax_oracle\ndef softmax_with_temperature(x, t=1.0):\n    return _softmax_oracle(x, t)",
    "import course_check.common as cc\ndef softmax_with_temperature(x, t=1.0):\n    return cc.anything(x, t)",
    "from transformer_reference import softmax_with_temperature",
    "import transformer_reference.output as ref\ndef softmax_with_temperature(x, t=1.0):\n    return ref.softmax_with_temperature(x, t)",
    "from torch.nn.functional import *\ndef softmax_with_temperature(x, t=1.0):\n    return softmax(x / t, -1)",
    "def softmax_with_temperature(x, t=1.0):\n    import torch.nn.functional as G\n    return G.softmax(x / t, -1)",
    "def softmax_with_temperature(x, t=1.0):\n    m = torch.nn.functional\n    return m.softmax(x / t, -1)",
    "%time softmax_with_temperature = torch.softmax",
    "%%capture\ndef softmax_with_temperature(x, t=1.0):\n    return torch.softmax(x / t, -1)",
    "def softmax_with_temperature(x, t=1.0):\n    return importlib.import_module('torch').softmax(x / t, -1)",
]


@pytest.mark.parametrize("code", DELEGATIONS)
def test_delegation_is_found_however_it_is_written(code):
    assert delegates(code), code


def test_group_norm_rms_norm_and_the_attention_forward_are_their_subjects():
    norm = "def layer_norm(x, g, b, eps=1e-5):\n    return F.group_norm(x.unsqueeze(1), 1).squeeze(1) * g + b"
    assert delegates(norm, name="layer_norm", subject="norm", reference="layer_norm")
    rms = "def layer_norm(x, g, b, eps=1e-5):\n    return F.rms_norm(x - x.mean(-1, keepdim=True), x.shape[-1:], g, eps) + b"
    assert delegates(rms, name="layer_norm", subject="norm", reference="layer_norm")
    mha = ("class MultiHeadAttention(nn.Module):\n    def forward(self, q, k, v, mask=None):\n"
           "        return F.multi_head_attention_forward(q, k, v, 8, 2, None, None, None, None, False, 0.0, None, None)[0]")
    assert delegates(mha, name="MultiHeadAttention", subject="attention", reference="MultiHeadAttention")
    inherits = "class MultiHeadAttention(nn.MultiheadAttention):\n    pass\n"
    assert delegates(inherits, name="MultiHeadAttention", subject="attention", reference="MultiHeadAttention")
    block = ("class DecoderBlock(nn.Module):\n    def __init__(self, d, h, f):\n        super().__init__()\n"
             "        self.layer = nn.TransformerDecoderLayer(d, h, f, batch_first=True)\n"
             "    def forward(self, x, memory):\n        return self.layer(x, memory)\n")
    assert delegates(block, name="DecoderBlock", subject="attention", reference="DecoderBlock")


def test_a_tensor_method_named_like_the_exercise_is_still_torch_s():
    """02's exercise is called `softmax`: that the notebook defines a function of that name does not
    make `x.softmax(dim)` (Tensor.softmax) the student's own; a method of the student's class would."""
    method = "def softmax(x, dim=-1):\n    return x.softmax(dim)"
    assert delegates(method, name="softmax", subject="softmax", reference="softmax"), method
    looked_up = "def softmax(x, dim=-1):\n    return getattr(x, 'softmax')(dim)"
    assert delegates(looked_up, name="softmax", subject="softmax", reference="softmax"), looked_up
    own = ("class Attention(nn.Module):\n    def softmax(self, s):\n        e = torch.exp(s - s.amax(-1, keepdim=True))\n"
           "        return e / e.sum(-1, keepdim=True)\n    def forward(self, s):\n        return self.softmax(s)\n")
    assert delegates(own, name="Attention", subject="softmax", reference="softmax") is None
    assert unreadable(own, name="Attention") is None


@pytest.mark.parametrize("elsewhere", ["print(dict(softmax=1))", "import types\ntypes.SimpleNamespace().softmax = 1",
                                       "class Other:\n    def softmax(self, x):\n        return x"])
def test_a_name_the_notebook_also_defines_is_its_own_only_on_its_own_objects(elsewhere):
    """Defining a `softmax` somewhere (a keyword, an attribute, another class's method) does not make
    `x.softmax(dim)` on an argument the student's: the reader cannot tell, so a person reviews it."""
    for code in ("def softmax_with_temperature(x, t=1.0):\n    return (x / t).softmax(-1)",
                 "def softmax_with_temperature(x, t=1.0):\n    return getattr(x / t, 'softmax')(-1)"):
        found = unreadable(elsewhere, code) or delegates(elsewhere, code)
        assert found is not None, (elsewhere, code)


@pytest.mark.parametrize("name, subject, code", [
    ("softmax", "softmax", "from transformer_reference import softmax_with_temperature\n"
                           "def softmax(x, dim=-1):\n    return softmax_with_temperature(x.movedim(dim, -1), 1.0).movedim(-1, dim)"),
    ("layer_norm", "norm", "import transformer_reference as tr\n"
                           "def layer_norm(x, gamma, beta, eps=1e-5):\n    return tr.LayerNorm(x.shape[-1])(x) * gamma + beta"),
    ("add_and_norm", "norm", "from transformer_reference import ResidualNorm\n"
                             "def add_and_norm(x, s, gamma, beta):\n    return ResidualNorm(x.shape[-1])(x, s)"),
    ("sinusoidal_positional_encoding", "none", "from transformer_reference import PositionalEncoding\n"
                                               "def sinusoidal_positional_encoding(T, d):\n    return PositionalEncoding(d, T).pe[:T]"),
])
def test_the_course_s_reference_under_another_name_is_the_reference(name, subject, code):
    """transformer_reference computes some components twice (a function and a module, a general form):
    each of its names is the reference of the exercise."""
    assert delegates(code, name=name, subject=subject, reference=name), code


def test_a_ready_made_causal_mask_is_the_causal_subject():
    made = "def causal_mask(seq_len):\n    return nn.Transformer.generate_square_subsequent_mask(seq_len) == 0"
    assert delegates(made, name="causal_mask", subject="causal", reference="causal_mask"), made
    own = "def causal_mask(seq_len):\n    return torch.ones(seq_len, seq_len, dtype=torch.bool).tril()"
    assert delegates(own, name="causal_mask", subject="causal", reference="causal_mask") is None


def test_earlier_components_and_own_attribute_names_are_allowed():
    code = ("from transformer_reference import scaled_dot_product_attention\n"
            "class MultiHeadAttention(nn.Module):\n"
            "    def __init__(self):\n        super().__init__()\n        self.attention = scaled_dot_product_attention\n"
            "    def forward(self, q, k, v, mask=None):\n"
            "        out, _ = self.attention(q, k, v, mask)\n"
            "        return out\n")
    assert delegates(code, name="MultiHeadAttention", subject="attention", reference="MultiHeadAttention") is None
    assert unreadable(code, name="MultiHeadAttention") is None


UNREADABLE = [
    "%run helpers.py\n" + OWN_SOFTMAX,
    "%%script python\nprint(1)\n",
    "%%writefile mysoft.py\nimport torch\ndef f(x):\n    return torch.softmax(x, -1)\n",  # then imported below
    "for softmax_with_temperature in [torch.softmax]:\n    pass",
    "with open('x') as softmax_with_temperature:\n    pass",
    "if (softmax_with_temperature := torch.softmax):\n    pass",
    "def install():\n    global softmax_with_temperature\n    softmax_with_temperature = torch.softmax\ninstall()",
    "def install():\n    global softmax_with_temperature\n    def softmax_with_temperature(x, t=1.0):\n"
    "        return torch.softmax(x / t, -1)\ninstall()",
    "def install():\n    global softmax_with_temperature\n    from torch import softmax as softmax_with_temperature\ninstall()",
    "TABLE = {}\ndef softmax_with_temperature(x, t=1.0):\n    return TABLE['f'](x / t, -1)\nTABLE['f'] = torch.softmax",
    "impl = []\nimpl.append(torch.softmax)\ndef softmax_with_temperature(x, t=1.0):\n    return impl[0](x / t, -1)",
    "class S:\n    pass\nsetattr(S, 'f', staticmethod(torch.softmax))\ndef softmax_with_temperature(x, t=1.0):\n    return S.f(x / t, -1)",
    "def softmax_with_temperature(x, t=1.0):\n    name = 'soft' + 'max' if t else ''\n    return getattr(F, name)(x / t, -1)",
    "def g(x, f=None):\n    return x\ndef softmax_with_temperature(x, t=1.0):\n    return g.__defaults__[0](x / t, -1)",
    # a computed name looked up on the argument (a tensor: its methods are torch's), not on `self`
    "def softmax_with_temperature(x, t=1.0):\n    name = 'soft{}'.format('max')\n    return getattr(x / t, name)(-1)",
    "def softmax_with_temperature(x, t=1.0):\n    for n in dir(x):\n        if n.startswith('softm'):\n            return getattr(x / t, n)(-1)",
    "class S:\n    @staticmethod\n    def f(self, t):\n        return getattr(self / t, ''.join(['soft', 'max']))(-1)\n"
    "def softmax_with_temperature(x, t=1.0):\n    return S.f(x, t)",
    "class S(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.lib = torch\n"
    "    def forward(self, x):\n        return getattr(self.lib, ''.join(['soft', 'max']))(x, -1)\n"
    "def softmax_with_temperature(x, t=1.0):\n    return S()(x / t)",
    "def softmax_with_temperature(x, t=1.0):\n    return F.__dict__['soft' 'max'](x / t, -1)",
    "def softmax_with_temperature(x, t=1.0):\n    return torch.ops.aten.__getattr__('_soft' + 'max')(x / t, -1, False)",
    "import runpy\nns = runpy.run_path('x.py')\ndef softmax_with_temperature(x, t=1.0):\n    return ns['f'](x, t)",
    "import pickle\nsm = pickle.loads(b'\\x80\\x04\\x95\\x19\\x00ctorch\\nsoftmax\\n.')\n"
    "def softmax_with_temperature(x, t=1.0):\n    return sm(x / t, -1)",
    "import io\nsm = torch.load(io.BytesIO(b'...'), weights_only=False)\n"
    "def softmax_with_temperature(x, t=1.0):\n    return sm(x / t, -1)",
    "def softmax_with_temperature(x, t=1.0):\n    return eval('torch.' + 'softmax')(x / t, -1)",
    "def softmax_with_temperature(x, t=1.0):\n    return globals()['helper'](x / t)",
    "globals()['softmax_with_temperature'] = torch.softmax",
    "torch.exp = lambda x: x\n" + OWN_SOFTMAX,
    "setattr(torch, 'exp', torch.sigmoid)\n" + OWN_SOFTMAX,
    # reaching into the machinery, anywhere in the notebook
    "import sys\nagent = sys.modules['_transformer_course_sandboxed.kernel_agent']\n" + OWN_SOFTMAX,
    "import os\nm = os.sys.modules\n" + OWN_SOFTMAX,
    "import threading\nthreading.Thread(target=print).start()\n" + OWN_SOFTMAX,
    "import gc\nfor o in gc.get_objects():\n    pass\n" + OWN_SOFTMAX,
    "import ctypes\n" + OWN_SOFTMAX,
    "import sys\nsys.settrace(lambda *a: None)\n" + OWN_SOFTMAX,
    "get_ipython().events.register('post_run_cell', print)\n" + OWN_SOFTMAX,
    "def f():\n    import sys as s\n    return s._getframe().f_back\n" + OWN_SOFTMAX,
    "import builtins\nbuiltins.isinstance = lambda *a: True\n" + OWN_SOFTMAX,
    "import signal\nsignal.setitimer(signal.ITIMER_REAL, 0.1)\n" + OWN_SOFTMAX,
    # code the text does not show, run outside any exercise; the namespaces of the machinery's modules
    "%load_ext myext\n" + OWN_SOFTMAX,
    # a module the notebook writes itself, even under the name of one the grader has
    "%%writefile grader.py\nimport torch\ndef f(x, t):\n    return torch.softmax(x / t, -1)\n",
    "%aimport mysoft\ndef softmax_with_temperature(x, t=1.0):\n    return mysoft.f(x / t)",
    OWN_SOFTMAX + "exec('softmax_with_' + 'temperature = torch.softmax')",
    OWN_SOFTMAX + "exec('import threading; threading.Thread(target=print).start()')",
    OWN_SOFTMAX + "x = eval(\"__import__('sys').modules\")",
    "import sys\nm = sys.__dict__['mod' + 'ules']\n" + OWN_SOFTMAX,
    "import sys\nm = vars(sys)['modules']\n" + OWN_SOFTMAX,
    "import threading\nvars(threading)['Thr' + 'ead'](target=print).start()\n" + OWN_SOFTMAX,
    "import sys\nname = 'modules'\nm = getattr(sys, name)\n" + OWN_SOFTMAX,
    "agents = [c for c in object.__subclasses__() if 'Agent' in c.__name__]\n" + OWN_SOFTMAX,
]


@pytest.mark.parametrize("code", UNREADABLE)
def test_what_the_reader_cannot_follow_is_unreadable(code):
    cells = [code] if NAME in code else [OWN_SOFTMAX, code]
    if "writefile" in code:
        module = re.search(r"writefile (\w+)\.py", code).group(1)
        cells = [code, f"import {module}\ndef softmax_with_temperature(x, t=1.0):\n    return {module}.f(x, t)"]
    finding = unreadable(*cells)
    assert finding is not None, code
    assert reading.REVIEW in finding.message(NAME)
    assert "line" in finding.where or "notebook" in finding.where


def test_a_name_defined_nowhere_is_the_kernel_s_to_report():
    """A misspelt helper fails with NameError when called (a wrong answer), not a review."""
    assert unreadable("def softmax_with_temperature(x, t=1.0):\n    return undefined_helper(x / t)") is None
    assert unreadable(OWN_SOFTMAX, name="never_defined") is None
    assert unreadable("from mystery import *", name="never_defined")


def test_other_exercises_are_a_boundary():
    """While one exercise is graded the checks stand in for the others: their reading is their own."""
    cells = ["for softmax in [lambda x, dim=-1: x]:\n    pass",
             "def attention(q, k, v):\n    return softmax(q @ k.transpose(-2, -1), dim=-1) @ v"]
    assert unreadable(*cells, name="attention")
    assert unreadable(*cells, name="attention") and read(*cells).unreadable("attention", frozenset({"softmax"})) is None


def test_a_binding_the_exercise_does_not_reach_does_not_matter():
    cells = [OWN_SOFTMAX, "for i in range(3):\n    pass", "table = {}\ntable['a'] = 1"]
    assert unreadable(*cells) is None


def test_the_course_itself_reads_clean():
    """Every solution notebook: no exercise unreadable, none delegating."""
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        found = reading.Reading(code)
        assert found.machinery is None and found.everything is None, (path, found.machinery, found.everything)
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                for name in reading.Reading([cell.source]).bindings:
                    assert found.unreadable(name) is None, (path, name, found.unreadable(name))


def test_a_hand_written_backward_pass_may_not_ask_autograd_for_it():
    """03's MaskedSoftmax: the solution and the corpus's correct variants read clean under the
    "backward" subject; autograd's own differentiation (grad, .backward(), ATen's kernel) is refused."""
    nb = nbformat.read(ROOT / "solutions" / "03_masking" / "03_masking.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any("class MaskedSoftmax(torch.autograd.Function)" in c for c in code)
    assert reading.Reading(code).delegation("MaskedSoftmax", "backward", None) is None
    corpus = sorted((ROOT / "tests" / "corpus" / "03_masking").glob("*_msm_*.py"))
    delegating = [p for p in corpus if p.name.startswith("delegate_")]
    assert len(delegating) >= 3
    for path in corpus:
        found = read("import torch", path.read_text()).delegation("MaskedSoftmax", "backward", None)
        assert (found is not None) == path.name.startswith("delegate_"), (path.name, found)


def test_every_name_torch_gives_a_forbidden_operation_says_what_it_is():
    """A torch release that exposes a forbidden operation under a name the subject's pattern does not
    match (an alias: the same object, another name) would let a delegation through unseen."""
    import torch
    import torch.nn.functional as F
    from course_check.common import FORBIDDEN_CALLS, _FORBIDDEN_OBJECTS

    namespaces = {"torch": torch, "torch.nn.functional": F, "torch.nn": torch.nn, "torch.special": torch.special,
                  "torch.Tensor": torch.Tensor, "torch._C": torch._C, "torch._C._nn": torch._C._nn,
                  "torch._C._VariableFunctions": torch._C._VariableFunctions, "torch.linalg": torch.linalg}
    checked = 0
    for subject, paths in FORBIDDEN_CALLS.items():
        pattern = re.compile(reading.SUBJECTS[subject] or r"(?!)", re.I)
        targets = {id(obj) for _, obj in _FORBIDDEN_OBJECTS[subject] if obj is not None}
        assert len(targets) == len(paths), f"{subject}: a forbidden path no longer resolves"
        for where, namespace in namespaces.items():
            for name in dir(namespace):
                try:
                    obj = getattr(namespace, name)
                except Exception:
                    continue
                if id(obj) in targets:
                    checked += 1
                    assert pattern.search(name), f"{where}.{name} is {subject}'s forbidden operation under a name " \
                                                 f"reading.SUBJECTS[{subject!r}] does not match"
    assert checked >= sum(map(len, FORBIDDEN_CALLS.values()))


@pytest.mark.parametrize("body", [
    "    def parameters(self, recurse=True):\n        return iter([])\n",
    "    def named_parameters(self, *a, **k):\n        return iter([])\n",
    "    __class__ = property(lambda self: torch.nn.Linear)\n",
    "    def __getattr__(self, name):\n        return torch.nn.Module.__getattr__(self, name)\n",
])
def test_a_class_that_rewrites_what_it_says_about_itself_is_read_by_a_person(body):
    """The grader reads a module's structure and a class's bases from the kernel: an exercise's class
    that redefines how it reports them (an extra parameter hidden from parameters(), ...) is unreadable."""
    honest = "class Block(torch.nn.Module):\n    def forward(self, x):\n        return x\n"
    assert unreadable(honest, name="Block") is None
    found = unreadable(honest.replace("    def forward", body + "    def forward"), name="Block")
    assert found is not None and "Block" in found.what
    meta = unreadable("class Meta(type):\n    pass\nclass Block(torch.nn.Module, metaclass=Meta):\n    pass\n", name="Block")
    assert meta is not None and "metaclass" in meta.what


def test_an_exercise_may_record_into_a_notebook_list_without_review():
    """`losses.append(...)` or `counts[k] += 1` inside an exercise changes an object but runs nothing
    the notebook put in it; reading from an object the notebook changes is what the reader cannot follow."""
    recording = ("losses = []\ncounts = {'n': 0}\ndef softmax_with_temperature(x, t=1.0):\n"
                 "    losses.append(float(t))\n    counts['n'] += 1\n    e = torch.exp(x / t - (x / t).amax(-1, keepdim=True))\n"
                 "    return e / e.sum(-1, keepdim=True)\n")
    assert unreadable(recording, "softmax_with_temperature(torch.ones(3))\nprint(losses, counts)") is None
    reading_back = recording.replace("    return e / e.sum", "    if counts['n'] > 1:\n        return losses\n    return e / e.sum")
    assert unreadable(reading_back) is not None
