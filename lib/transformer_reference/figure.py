"""A picture of the whole Transformer (encoder-decoder, post-norm), drawn with matplotlib.

:func:`architecture` draws the lecture's architecture and highlights the parts a notebook is about,
so each notebook can show where its piece sits in the whole.

Taught in: course/05_cross_attention, course/07_output, course/08_capstone
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

# The parts that can be highlighted, and the notebook that teaches each.
PARTS = {
    "embedding": "01: token embedding",
    "positions": "01: positional encoding",
    "self_attention": "02-04: multi-head self-attention",
    "masked_self_attention": "03-04: masked multi-head self-attention",
    "cross_attention": "05: cross attention",
    "add_norm": "06: Add & Norm",
    "feed_forward": "06: feed-forward",
    "output": "07: output projection and softmax",
    "encoder_block": "06, 08: a whole encoder block",
    "decoder_block": "07: a whole decoder block",
}

_BOXES = [
    # (part, label, x, y, width, height); x, y of the lower left corner, in axes units
    ("embedding", "Input embedding", 0.05, 0.04, 0.32, 0.06),
    ("positions", "+ positional encoding", 0.05, 0.12, 0.32, 0.05),
    ("self_attention", "Multi-head self-attention", 0.05, 0.24, 0.32, 0.07),
    ("add_norm", "Add & Norm", 0.05, 0.32, 0.32, 0.04),
    ("feed_forward", "Feed-forward", 0.05, 0.40, 0.32, 0.07),
    ("add_norm", "Add & Norm", 0.05, 0.48, 0.32, 0.04),
    ("embedding", "Output embedding (shifted right)", 0.58, 0.04, 0.37, 0.06),
    ("positions", "+ positional encoding", 0.58, 0.12, 0.37, 0.05),
    ("masked_self_attention", "Masked multi-head self-attention", 0.58, 0.24, 0.37, 0.07),
    ("add_norm", "Add & Norm", 0.58, 0.32, 0.37, 0.04),
    ("cross_attention", "Cross attention (K, V: memory)", 0.58, 0.40, 0.37, 0.07),
    ("add_norm", "Add & Norm", 0.58, 0.48, 0.37, 0.04),
    ("feed_forward", "Feed-forward", 0.58, 0.56, 0.37, 0.07),
    ("add_norm", "Add & Norm", 0.58, 0.64, 0.37, 0.04),
    ("output", "Linear (output projection)", 0.58, 0.76, 0.37, 0.05),
    ("output", "Softmax with temperature", 0.58, 0.84, 0.37, 0.05),
]


def architecture(highlight: str | list[str] | tuple[str, ...] = (), title: str | None = None, ax=None):
    """Draw the encoder-decoder Transformer; the parts named in `highlight` (keys of PARTS) in colour.

    Returns the matplotlib Axes. With no highlight, every part is drawn in colour.
    """
    wanted = {highlight} if isinstance(highlight, str) else set(highlight)
    unknown = wanted - set(PARTS)
    if unknown:
        raise ValueError(f"highlight must name parts of {sorted(PARTS)}, got {sorted(unknown)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 6.2))
    for part, label, x, y, w, h in _BOXES:
        block = "encoder_block" if x < 0.5 else "decoder_block"
        in_block = 0.2 < y < 0.7
        on = not wanted or part in wanted or (in_block and block in wanted)
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.005",
                                    facecolor="#f6c85f" if on else "#eeeeee",
                                    edgecolor="black" if on else "#bbbbbb", linewidth=1.2 if on else 0.8))
        ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=8.5,
                color="black" if on else "#999999")
    # The stacks: N encoder blocks, N decoder blocks.
    for x, y, w, h, name in [(0.03, 0.19, 0.36, 0.35, "encoder block x N"), (0.56, 0.19, 0.41, 0.51, "decoder block x N")]:
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.01", fill=False, linestyle="--",
                                    edgecolor="#555555"))
        ax.text(x + 0.005, y + 0.008, name, ha="left", fontsize=7.5, color="#555555", style="italic")
    # Data flow: up each stack, and the memory from the encoder's top into every cross attention.
    arrow = dict(arrowstyle="->", color="#555555", linewidth=1.0)
    for left in (0.05, 0.58):
        column = sorted((y, y + h, x + w / 2) for _, _, x, y, w, h in _BOXES if x == left)
        for (_, top, x), (bottom, _, _) in zip(column[:-1], column[1:]):
            ax.annotate("", xy=(x, bottom), xytext=(x, top), arrowprops=arrow)
    ax.annotate("", xy=(0.58, 0.435), xytext=(0.21, 0.535),
                arrowprops=dict(arrowstyle="->", color="#c0392b", linewidth=1.4, connectionstyle="arc3,rad=-0.25"))
    ax.text(0.30, 0.60, "memory (K, V)", color="#c0392b", fontsize=8.5, ha="center")
    ax.text(0.21, -0.01, "source tokens", ha="center", fontsize=8.5)
    ax.text(0.765, -0.01, "target tokens so far", ha="center", fontsize=8.5)
    ax.set(xlim=(0, 1), ylim=(-0.03, 0.91))
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return ax
