"""Values crossing from the kernel to the grader (grader/sandboxed/codec.py encode/decode, used by the kernel agent)."""

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.sandboxed.codec import decode, encode
from grader.sandboxed.kernel_agent import Agent


def roundtrip(value, keep=None):
    kept = []
    keep = keep or (lambda obj: kept.append(obj) or {"$": "handle", "id": len(kept) - 1})
    return decode(json.loads(json.dumps(encode(value, keep))))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool])
def test_tensors_come_back_as_exact_plain_tensors(dtype):
    t = (torch.randn(2, 3, 4) * 10).to(dtype)
    back = roundtrip(t)
    assert type(back) is torch.Tensor and back.dtype == dtype and back.shape == t.shape
    assert torch.equal(back, t)


def test_tensor_subclasses_and_views_lose_their_behaviour():
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    liar = torch.zeros(3).as_subclass(Liar)
    back = roundtrip(liar)
    assert type(back) is torch.Tensor
    assert not torch.equal(back, torch.ones(3))
    view = torch.arange(12.0).reshape(3, 4).T  # non-contiguous
    assert torch.equal(roundtrip(view), view)


def test_plain_structures_keep_their_types():
    value = {"a": (1, 2.5, float("inf"), None, True), "b": [torch.ones(2)], 3: "x", "big": 2**80,
             "od": OrderedDict(z=1), "size": torch.Size([2, 3]), "dtype": torch.float64, "np": np.int64(7)}
    back = roundtrip(value)
    assert back["a"] == (1, 2.5, float("inf"), None, True) and type(back["a"]) is tuple
    assert torch.equal(back["b"][0], torch.ones(2)) and back[3] == "x" and back["big"] == 2**80
    assert type(back["od"]) is OrderedDict and back["size"] == torch.Size([2, 3]) and back["dtype"] is torch.float64
    assert type(back["np"]) is np.int64 and back["np"] == 7


def test_int_and_str_subclasses_become_plain_values():
    class AlwaysEqual(int):
        def __eq__(self, other):
            return True

    back = roundtrip(AlwaysEqual(3))
    assert type(back) is int and back == 3 and back != 4


def test_other_objects_stay_behind_as_handles():
    agent = Agent({})
    module = torch.nn.Linear(2, 2)
    desc = encode(module, agent.keep)
    assert desc["$"] == "handle" and desc["kind"] == "module" and "torch.nn.modules.module.Module" in desc["mro"]
    assert encode(module, agent.keep)["id"] == desc["id"], "the same object keeps one handle"
    assert encode(module.weight, agent.keep)["kind"] == "tensor"  # parameters stay in the kernel


@pytest.mark.parametrize("payload", [
    [1, 2],
    {"$": "pickle", "v": "..."},
    {"$": "tensor", "dtype": "object", "shape": [1], "data": ""},
    {"$": "numpy", "scalar": False, "dtype": "|O", "shape": [1], "data": "AAAAAAAAAAA="},
    {"$": "dtype", "v": "nn"},
])
def test_malformed_answers_are_refused(payload):
    with pytest.raises((ValueError, TypeError)):
        decode(payload)


def test_what_the_checks_send_into_a_kernel_needs_no_grader_package(tmp_path):
    """A sandboxed kernel cannot import `grader`: probe models, stand-ins and scenarios go by value.
    They are unpickled here in a fresh interpreter where importing `grader` fails."""
    import subprocess
    import sys

    from grader.boundary.remote import pickled
    from grader.checks import attention, capstone, multihead, output
    from course_check import common

    sent = [capstone._WindowLM(13, seed=1), capstone._Probe(13, last=3), capstone._train_steps,
            common._copy_weights, output._embedding_beside, attention.softmax_oracle, multihead.mha64]
    (tmp_path / "sent.pkl").write_bytes(pickled(sent))
    script = (
        "import sys, importlib.abc\n"
        "class NoGrader(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'grader' or name.startswith('grader.'):\n"
        "            raise ImportError('no grader in the kernel: ' + name)\n"
        "sys.meta_path.insert(0, NoGrader())\n"
        "import cloudpickle\n"
        "objs = cloudpickle.loads(open(sys.argv[1], 'rb').read())\n"
        "import torch\n"
        "print(objs[0](torch.tensor([[1, 2, 3]])).shape)\n"
    )
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "sent.pkl")], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]


def test_a_check_function_is_sent_once_and_named_by_handle_afterwards():
    """Stand-ins and scenarios travel with call after call; each is pickled and sent once per kernel,
    then named by handle (pickling by value costs milliseconds). Run against a real IPython shell."""
    import subprocess
    import sys

    script = (
        "from tools.inprocess import Shell\n"
        "from grader.boundary.remote import RemoteKernel, in_kernel\n"
        "import grader.checks\n"
        "from course_check import common\n"
        "import torch\n"
        "shell = Shell()\n"
        "shell.run('import torch\\nmodel = torch.nn.Linear(2, 1)')\n"
        "sent = []\n"
        "def run(code):\n"
        "    sent.append(code)\n"
        "    return shell.run(code)\n"
        "kernel = RemoteKernel(run)\n"
        "kernel.install()\n"
        "model = kernel.lookup('model')\n"
        "for value in (1.0, 2.0, 3.0):\n"
        "    common.load_weights(model, {'weight': torch.full((1, 2), value), 'bias': torch.zeros(1)})\n"
        "    assert model(torch.ones(2)).item() == 2 * value\n"
        "import base64, re, cloudpickle\n"
        "def carries(value):\n"
        "    if isinstance(value, (list, tuple)):\n"
        "        return any(carries(v) for v in value)\n"
        "    if isinstance(value, dict):\n"
        "        return any(carries(v) for v in value.values())\n"
        "    return getattr(value, '__name__', None) == '_copy_weights'\n"
        "requests = [cloudpickle.loads(base64.b64decode(m.group(1))) for c in sent for m in [re.search(r\"serve\\('(.+)'\\)\", c)] if m]\n"
        "print(len(sent), [op for op, args in requests if carries(args)])\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    assert run.returncode == 0, run.stderr[-2000:]
    # install, lookup, one keep, then per round one scenario call and one model call; only the
    # keep request carries the function itself
    assert run.stdout.strip() == "9 ['keep']", run.stdout


def test_a_module_brings_its_layers_along_until_student_code_runs_again():
    """A module's handle carries its registered layers and parameters, so reading the structure of a
    student's module (`block.attn.w_q.weight.shape`) costs no request; after any call into the
    kernel it is read afresh, and an attribute the class shadows (a property) is never taken from
    the registry."""
    import subprocess
    import sys

    script = (
        "from tools.inprocess import Shell\n"
        "from grader.boundary.remote import RemoteKernel\n"
        "shell = Shell()\n"
        "shell.run('''import torch\n"
        "class Block(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.attn = torch.nn.Module()\n"
        "        self.attn.w_q = torch.nn.Linear(4, 4)\n"
        "        self._modules['shadowed'] = torch.nn.Linear(2, 2)  # under a name the class shadows\n"
        "    @property\n"
        "    def shadowed(self):\n"
        "        return 'the property'\n"
        "    def widen(self):\n"
        "        self.attn.w_q = torch.nn.Linear(4, 8)\n"
        "block = Block()''')\n"
        "sent = []\n"
        "kernel = RemoteKernel(lambda code: sent.append(code) or shell.run(code))\n"
        "kernel.install()\n"
        "block = kernel.lookup('block')\n"
        "before = len(sent)\n"
        "shape = tuple(block.attn.w_q.weight.shape)\n"
        "same = block.attn is block.attn\n"
        "free = len(sent) - before\n"
        "block.widen()\n"
        "print(shape, same, free, tuple(block.attn.w_q.weight.shape), block.shadowed)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "(4, 4) True 0 (8, 4) the property", run.stdout


def test_line_frames_arrive_whole_and_oversized_ones_are_refused():
    """The agent's line (grader/boundary/line.py) reads length-prefixed frames: whole, split or
    empty; a frame over the limit is refused before it is read; a cut one is an error."""
    import socket
    import threading

    from grader.sandboxed.codec import receive, send

    a, b = socket.socketpair()
    big = bytes(range(256)) * 20_000  # 5 MB: arrives in many chunks
    writer = threading.Thread(target=lambda: [send(a, data) for data in (b"", b"hello", big)])
    writer.start()
    assert receive(b) == b"" and receive(b) == b"hello" and receive(b) == big
    writer.join()
    send(a, b"x" * 100)
    with pytest.raises(ValueError):
        receive(b, limit=99)
    c, d = socket.socketpair()
    c.sendall((10).to_bytes(8, "big") + b"cut")
    c.close()
    with pytest.raises(ConnectionError):
        receive(d)
    e, f = socket.socketpair()
    e.close()
    assert receive(f) is None  # closed between frames: the other side is done


def test_a_students_exception_message_never_reaches_a_verdict_in_any_form():
    from grader.boundary.remote import HIDDEN_TEXT, _exception, redact

    secret = "x was tensor([0.1234, -5.6789])"
    err = _exception({"error": "ValueError", "message": secret})
    assert type(err) is ValueError and secret in str(err)  # the checks can still read it
    quoted = [f"softmax raised ValueError: {str(err)[:12]}. Use the maximum along `dim`.",  # cut short
              f"raised ValueError({str(err)!r}); the message should name `d_model`.",  # as repr writes it
              f"raised: {err}"]
    for verdict in quoted:
        shown = redact(verdict, [secret])
        assert "0.12" not in shown and "x was" not in shown and HIDDEN_TEXT in shown, shown
    # the checks' own words that merely share letters with a message stay readable
    recursion = _exception({"error": "RecursionError", "message": "maximum recursion depth exceeded"})
    shown = redact(f"softmax(x) raised RecursionError: {recursion}. Use the maximum along `dim`.",
                   ["maximum recursion depth exceeded"])
    assert shown == f"softmax(x) raised RecursionError: {HIDDEN_TEXT}. Use the maximum along `dim`."
    other = _exception({"error": "MyError", "message": "mine"})
    assert type(other) is Exception
