"""transformer_reference.own_parts: the capstone on the student's own components (notebook 08)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
import torch

from transformer_reference import EncoderDecoder
from transformer_reference.own_parts import USED, library_parts, recorded_attention, your_parts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def solutions_parts():
    return your_parts(ROOT / "solutions")


def test_the_solutions_own_parts_all_pass_their_checks(solutions_parts):
    assert [row.whose for row in solutions_parts.rows] == ["yours"] * len(USED), solutions_parts.rows
    assert solutions_parts.DecoderBlock.__module__ == "your_07_output"


def test_a_failing_component_falls_back_to_the_library_and_says_why(tmp_path):
    for notebook in {nb for nb, _, _ in USED}:
        shutil.copytree(ROOT / "solutions" / notebook, tmp_path / notebook)
    path = tmp_path / "06_add_norm" / "06_add_norm.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "layer_norm")
    cell.source = cell.source.replace("### BEGIN SOLUTION", "### BEGIN SOLUTION\n    x = x * 1.5")  # a wrong layer norm
    nbformat.write(nb, path)
    (tmp_path / "02_attention").rename(tmp_path / "02_missing")
    parts = your_parts(tmp_path)
    rows = {row.name: row for row in parts.rows}
    assert rows["layer_norm"].whose == "library" and "failed" in rows["layer_norm"].why
    assert rows["softmax"].whose == "library" and "not found" in rows["softmax"].why
    assert rows["FeedForward"].whose == "yours" and rows["MultiHeadAttention"].whose == "yours"


def test_build_runs_the_same_code_on_the_parts(solutions_parts):
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = TokenEmbedding(7, 8)  # noqa: F821 - looked up when built

        def forward(self, ids):
            return self.embed(ids)

    globals()["TokenEmbedding"] = library_parts().TokenEmbedding
    try:
        built = solutions_parts.build(Tiny)()
        assert type(built.embed) is solutions_parts.TokenEmbedding
        assert type(Tiny().embed) is library_parts().TokenEmbedding  # the original is untouched
    finally:
        del globals()["TokenEmbedding"]


def test_own_models_train_and_record_attention(solutions_parts):
    torch.manual_seed(0)
    lm = solutions_parts.DecoderOnlyLM(11, d_model=16, num_heads=2, d_ff=32, num_layers=1, max_len=8)
    ids = torch.randint(0, 11, (3, 8))
    with torch.no_grad(), recorded_attention(lm):
        logits = lm(ids)
    weights = lm.blocks[0].self_attn.last_weights  # (B, H, T, T)
    assert logits.shape == (3, 8, 11) and weights.shape == (3, 2, 8, 8)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 8))
    assert torch.all(weights.triu(1) == 0)  # causal
    assert lm.output.weight is lm.embed.weight


def test_library_parts_are_the_library(solutions_parts):
    parts = library_parts()
    assert parts.yours() == 0
    model = parts.build(EncoderDecoder)
    assert issubclass(model, EncoderDecoder)
