"""CONTRIBUTING.md's table of what each delegation subject refuses is what `python -m tools.subjects` finds."""

from __future__ import annotations

from pathlib import Path

from tools.subjects import BEGIN, END, matches, table

ROOT = Path(__file__).resolve().parents[2]


def test_subjects_table_matches_the_installed_torch():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    assert text[text.index(BEGIN) + len(BEGIN): text.index(END)].strip() == table(), \
        "run `python -m tools.subjects --write` (torch or reading.SUBJECTS changed)"


def test_each_subject_reaches_its_forbidden_entry_points():
    found = matches()
    assert "softmax" in found["softmax"]["torch.nn.functional"] and "softmin" in found["softmax"]["torch.nn.functional"]
    assert "_softmax" in found["softmax"]["torch.ops.aten"]
    assert {"layer_norm", "group_norm", "rms_norm"} <= set(found["norm"]["torch.nn.functional"])
    assert "scaled_dot_product_attention" in found["attention"]["torch.nn.functional"]
    assert {"grad", "vjp"} <= set(found["backward"]["torch.func"]) and "backward" in found["backward"]["torch.Tensor"]
