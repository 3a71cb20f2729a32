"""Values crossing from the kernel to the grader (grader/boundary/kernel_agent.py encode/decode)."""

import json
from collections import OrderedDict

import numpy as np
import pytest
import torch

from grader.boundary.kernel_agent import Agent, decode, encode


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
