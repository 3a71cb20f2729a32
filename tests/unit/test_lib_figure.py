"""transformer_reference.figure: the architecture picture of notebooks 05, 07 and 08."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from transformer_reference.figure import PARTS, architecture  # noqa: E402


@pytest.mark.parametrize("highlight", [(), "cross_attention", ["decoder_block", "output"], list(PARTS)])
def test_architecture_draws_and_highlights(highlight):
    ax = architecture(highlight)
    coloured = [p for p in ax.patches if p.get_facecolor()[:3] != (1.0, 1.0, 1.0) and p.get_fill()
                and matplotlib.colors.to_hex(p.get_facecolor()) == "#f6c85f"]
    assert coloured, "nothing highlighted"
    if highlight == "cross_attention":
        assert len(coloured) == 1
    plt.close(ax.figure)


def test_architecture_refuses_unknown_parts():
    with pytest.raises(ValueError, match="highlight"):
        architecture("attention_is_all")
