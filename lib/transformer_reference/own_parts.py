"""Your own parts: the capstone's Transformer assembled from the components you wrote in notebooks 01-07.

d2l exports the reader's notebook code into a library with ``#@save``; this module does the same by
reading the notebooks themselves. :func:`your_parts` reads ``01_embeddings/01_embeddings.ipynb`` ...
``07_output/07_output.ipynb`` next to the capstone, runs each notebook's setup cell and solution
cells in a namespace of its own (a later notebook gets your *earlier* components in place of the
library's it imports), runs the visible part of every test cell of the components the capstone uses,
and keeps a component only if all of its checks pass; otherwise the library's version of that
component runs, and the table printed by :func:`Parts.show` says which and why.

Nothing here is graded. The capstone's own tests use the library's parts (:func:`library_parts`),
so a mistake in an earlier notebook costs points only there.

Taught in: course/08_capstone
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import attention as _attention
from . import blocks as _blocks
from . import embedding as _embedding
from . import feedforward as _feedforward
from . import models as _models
from . import norm as _norm
from . import output as _output

# The components the capstone runs, in lecture order: (notebook, name, what it does in the capstone).
USED = [
    ("01_embeddings", "embedding_lookup", "token embeddings (TokenEmbedding)"),
    ("01_embeddings", "sinusoidal_positional_encoding", "positional encoding (PositionalEncoding)"),
    ("02_attention", "softmax", "inside your attention"),
    ("02_attention", "scaled_dot_product_attention", "inside every MultiHeadAttention"),
    ("03_masking", "causal_mask", "decoder and language-model masks"),
    ("03_masking", "padding_mask", "source and target padding masks"),
    ("04_multihead", "split_heads", "inside MultiHeadAttention"),
    ("04_multihead", "merge_heads", "inside MultiHeadAttention"),
    ("04_multihead", "MultiHeadAttention", "every self- and cross-attention sublayer"),
    ("06_add_norm", "layer_norm", "every LayerNorm"),
    ("06_add_norm", "add_and_norm", "the encoder blocks' Add & Norm"),
    ("06_add_norm", "FeedForward", "every feed-forward sublayer"),
    ("07_output", "DecoderBlock", "the encoder-decoder's decoder blocks"),
    ("07_output", "OutputProjection", "the tied output layer of both models"),
    ("07_output", "softmax_with_temperature", "inside sample_next_token"),
    ("07_output", "sample_next_token", "the choice of each generated token"),
]

# The library's version of every component above.
LIBRARY = {
    "embedding_lookup": _embedding.embedding_lookup,
    "sinusoidal_positional_encoding": _embedding.sinusoidal_positional_encoding,
    "softmax": _attention.softmax,
    "scaled_dot_product_attention": _attention.scaled_dot_product_attention,
    "causal_mask": _attention.causal_mask,
    "padding_mask": _attention.padding_mask,
    "split_heads": _attention.split_heads,
    "merge_heads": _attention.merge_heads,
    "MultiHeadAttention": _attention.MultiHeadAttention,
    "layer_norm": _norm.layer_norm,
    "add_and_norm": _norm.add_and_norm,
    "LayerNorm": _norm.LayerNorm,
    "FeedForward": _feedforward.FeedForward,
    "DecoderBlock": _blocks.DecoderBlock,
    "OutputProjection": _output.OutputProjection,
    "softmax_with_temperature": _output.softmax_with_temperature,
    "sample_next_token": _output.sample_next_token,
}

_CHECK_CALL = re.compile(r"^from course_check import (\w+) as checks\s*$\s*^checks\.(\w+)\((\w+)\)", re.MULTILINE)


@dataclass
class Row:
    notebook: str
    name: str
    role: str
    whose: str  # "yours" or "library"
    why: str


@dataclass
class Parts:
    """The capstone's building blocks, each from your notebooks or from the library (see ``rows``)."""

    TokenEmbedding: type
    PositionalEncoding: type
    EncoderBlock: type
    DecoderBlock: type
    OutputProjection: type
    DecoderOnlyLM: type
    causal_mask: object
    padding_mask: object
    sample_next_token: object
    rows: list[Row] = field(default_factory=list)

    def build(self, obj):
        """`obj` (your capstone class or function) with these parts in place of the library's names it uses.

        Your code is not changed: the copy runs the same code, only its global names `TokenEmbedding`,
        `PositionalEncoding`, `EncoderBlock`, `DecoderBlock`, `OutputProjection`, `DecoderOnlyLM`,
        `causal_mask`, `padding_mask` and `sample_next_token` now mean the parts of this table.
        """
        names = ("TokenEmbedding", "PositionalEncoding", "EncoderBlock", "DecoderBlock", "OutputProjection",
                 "DecoderOnlyLM", "causal_mask", "padding_mask", "sample_next_token")
        if isinstance(obj, types.FunctionType):
            return _rebound(obj, self._namespace(obj.__globals__, names))
        if isinstance(obj, type):
            methods = [v for v in vars(obj).values() if isinstance(v, types.FunctionType)]
            if not methods:
                return obj
            namespace = self._namespace(methods[0].__globals__, names)
            body = {k: _rebound(v, namespace) for k, v in vars(obj).items() if isinstance(v, types.FunctionType)}
            # A subclass, so that `super()` in your methods (which names your class) still works.
            return type(obj.__name__, (obj,), {**body, "__doc__": obj.__doc__, "__module__": obj.__module__})
        return obj  # anything else (not written yet, say) runs as it is

    def _namespace(self, original: dict, names: tuple[str, ...]) -> dict:
        namespace = dict(original)
        namespace.update({name: getattr(self, name) for name in names if name in original})
        return namespace

    def yours(self) -> int:
        return sum(row.whose == "yours" for row in self.rows)

    def show(self, file=None) -> None:
        """Print which part runs: yours or the library's, and why."""
        width = max(len(row.name) for row in self.rows)
        print(f"{'notebook':<19}{'component':<{width + 2}}{'runs':<10}why", file=file)
        for row in self.rows:
            print(f"{row.notebook:<19}{row.name:<{width + 2}}{row.whose:<10}{row.why}", file=file)
        print(f"{self.yours()} of {len(self.rows)} components are yours.", file=file)


def _rebound(fn: types.FunctionType, namespace: dict) -> types.FunctionType:
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__, copy.__doc__, copy.__qualname__ = fn.__kwdefaults__, fn.__doc__, fn.__qualname__
    return copy


def _solution_cells(nb: dict) -> tuple[str, list[str], list[str]]:
    """The setup cell, the solution cells and the test cells of a notebook (nbformat JSON)."""
    setup, solutions, tests = "", [], []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id") == "setup":
            setup = source
        elif meta.get("solution"):
            solutions.append(source)
        elif meta.get("grade"):
            tests.append(source.split("### BEGIN" " HIDDEN TESTS")[0])  # (the solutions carry them; a student copy not)
    return setup, solutions, tests


def _without_magics(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def _first_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 110 else text[:107] + "..."


def _run_notebook(path: Path, earlier: dict) -> tuple[dict, list[str], list[tuple[str, str]], str | None]:
    """Run `path`'s setup and solution cells in a fresh namespace in which `earlier` (your components that
    passed their checks) replace the library's. Returns (namespace, errors, [(check module, check, name)], error)."""
    import json

    nb = json.loads(path.read_text(encoding="utf-8"))
    setup, solutions, tests = _solution_cells(nb)
    module = types.ModuleType(f"your_{path.stem}")
    namespace = module.__dict__
    errors = []
    for index, source in enumerate([setup, *solutions]):
        if index == 1:  # after the setup cell's imports: your earlier components in place of the library's
            for name, obj in earlier.items():
                if name in namespace:
                    namespace[name] = obj
        try:
            code = compile(_without_magics(source), f"<{path.stem} cell {index}>", "exec")
            exec(code, namespace)
        except Exception as err:  # a cell that does not run: its components fall back below
            errors.append(f"a cell of the notebook raised {type(err).__name__}: {_first_line(err)}")
    checks = [(m.group(1), m.group(2), m.group(3)) for test in tests for m in _CHECK_CALL.finditer(test)]
    return namespace, errors, checks


def _verify(namespace: dict, name: str, checks: list[tuple[str, str, str]]) -> str | None:
    """Run the visible checks of `name`; None if all pass, else why not."""
    import importlib

    obj = namespace.get(name)
    if obj is None:
        return "not defined in your notebook"
    mine = [(m, c) for m, c, n in checks if n == name]
    if not mine:
        return "no test cell found for it"
    for module_name, check_name in mine:
        check = getattr(importlib.import_module(f"course_check.{module_name}"), check_name)
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                check(obj)
        except NotImplementedError:
            return "not written yet"
        except Exception as err:
            if "NotImplementedError" in str(err):
                return "not written yet"
            return f"{check_name} failed: {_first_line(err)}"
    return None


def your_parts(course_dir: str | Path = "..") -> Parts:
    """Assemble the capstone's parts from your notebooks in `course_dir` (01_embeddings/ ... 07_output/).

    Every component is checked by the visible part of its test cells first; one that is missing or
    fails any of them is replaced by the library's version. Takes about half a minute.
    """
    course_dir = Path(course_dir)
    yours: dict = {}  # components that passed, by name; handed to later notebooks
    rows: list[Row] = []
    notebooks = list(dict.fromkeys(notebook for notebook, _, _ in USED))
    with _quiet_state():
        for notebook in notebooks:
            path = course_dir / notebook / f"{notebook}.ipynb"
            used = [(name, role) for nb_, name, role in USED if nb_ == notebook]
            if not path.exists():
                rows += [Row(notebook, name, role, "library", f"{path} not found") for name, role in used]
                continue
            namespace, errors, checks = _run_notebook(path, _with_layer_norm(yours))
            for name, role in used:
                why = _verify(namespace, name, checks)
                if why is None:
                    yours[name] = namespace[name]
                    count = sum(n == name for _, _, n in checks)
                    rows.append(Row(notebook, name, role, "yours", f"passed its {count} visible check{'s' * (count != 1)}"))
                else:
                    if errors and why == "not defined in your notebook":
                        why = errors[0]
                    namespace[name] = LIBRARY[name]  # later components of this notebook use the library's
                    rows.append(Row(notebook, name, role, "library", why))
    return _assemble({**LIBRARY, **yours}, rows)


def library_parts() -> Parts:
    """The library's parts only (what the capstone's tests use)."""
    rows = [Row(notebook, name, role, "library", "the library's parts") for notebook, name, role in USED]
    return _assemble(dict(LIBRARY), rows)


@contextlib.contextmanager
def _quiet_state():
    """Running the notebooks' code must not change the caller's random state or thread count."""
    rng = torch.get_rng_state()
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_rng_state(rng)
        torch.set_num_threads(threads)


def _with_layer_norm(yours: dict) -> dict:
    """Later notebooks import `LayerNorm` (a module): give them one built on your `layer_norm`."""
    if "layer_norm" in yours:
        return {**yours, "LayerNorm": _layer_norm_module(yours["layer_norm"])}
    return yours


def _layer_norm_module(layer_norm_fn):
    class LayerNorm(nn.Module):
        """LayerNorm(d_model) with gamma = .weight, beta = .bias, computed by your `layer_norm`."""

        def __init__(self, d_model: int, eps: float = 1e-5) -> None:
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(d_model))
            self.bias = nn.Parameter(torch.zeros(d_model))

        def forward(self, x):
            return layer_norm_fn(x, self.weight, self.bias, self.eps)

    return LayerNorm


def _assemble(c: dict, rows: list[Row]) -> Parts:
    """Build the capstone's modules from the components in `c` (yours or the library's, by name)."""
    embedding_lookup, sinusoidal = c["embedding_lookup"], c["sinusoidal_positional_encoding"]
    MultiHeadAttention, FeedForward, add_and_norm = c["MultiHeadAttention"], c["FeedForward"], c["add_and_norm"]
    causal_mask, OutputProjection = c["causal_mask"], c["OutputProjection"]
    LayerNorm = _layer_norm_module(c["layer_norm"]) if c["layer_norm"] is not LIBRARY["layer_norm"] else _norm.LayerNorm

    class TokenEmbedding(nn.Module):
        """ids (...) -> E[ids] * sqrt(d_model) (`embedding_lookup`, notebook 01); `.weight` (V, d_model)."""

        def __init__(self, vocab_size: int, d_model: int) -> None:
            super().__init__()
            self.d_model = d_model
            self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model**-0.5)  # as the library's

        def forward(self, token_ids):
            return embedding_lookup(token_ids, self.weight) * math.sqrt(self.d_model)  # (..., d_model)

    class PositionalEncoding(nn.Module):
        """x (B, T, d_model) -> x + PE[:T] (`sinusoidal_positional_encoding`, notebook 01)."""

        def __init__(self, d_model: int, max_len: int) -> None:
            super().__init__()
            self.register_buffer("pe", sinusoidal(max_len, d_model), persistent=False)

        def forward(self, x):
            return x + self.pe[: x.shape[-2]].to(x.dtype)  # (..., T, d_model)

    class EncoderBlock(nn.Module):
        """x = add_and_norm(x, MHA(x, x, x, mask)); x = add_and_norm(x, FFN(x)) (notebooks 04 and 06)."""

        def __init__(self, d_model: int, num_heads: int, d_ff: int) -> None:
            super().__init__()
            self.self_attn = MultiHeadAttention(d_model, num_heads)
            self.feed_forward = FeedForward(d_model, d_ff)
            self.norm1 = LayerNorm(d_model)
            self.norm2 = LayerNorm(d_model)

        def forward(self, x, src_mask=None):
            x = add_and_norm(x, self.self_attn(x, x, x, src_mask), self.norm1.weight, self.norm1.bias)
            return add_and_norm(x, self.feed_forward(x), self.norm2.weight, self.norm2.bias)  # (B, T, d_model)

    class DecoderOnlyLM(nn.Module):
        """GPT-style model: TokenEmbedding, PositionalEncoding, N causal EncoderBlocks, tied OutputProjection."""

        def __init__(self, vocab_size, d_model=64, num_heads=4, d_ff=256, num_layers=2, max_len=128) -> None:
            super().__init__()
            self.max_len = max_len
            self.embed = TokenEmbedding(vocab_size, d_model)
            self.positions = PositionalEncoding(d_model, max_len)
            self.blocks = nn.ModuleList(EncoderBlock(d_model, num_heads, d_ff) for _ in range(num_layers))
            self.output = OutputProjection(d_model, vocab_size, tied_weight=self.embed.weight)

        def forward(self, ids):
            mask = causal_mask(ids.shape[1])  # (T, T)
            x = self.positions(self.embed(ids))  # (B, T, d_model)
            for block in self.blocks:
                x = block(x, mask)
            return self.output(x)  # (B, T, V)

    everything_library = all(row.whose == "library" for row in rows)
    if everything_library:  # the library's own modules, exactly what the tests use
        TokenEmbedding, PositionalEncoding = _embedding.TokenEmbedding, _embedding.PositionalEncoding
        EncoderBlock, DecoderOnlyLM = _blocks.EncoderBlock, _models.DecoderOnlyLM
    return Parts(
        TokenEmbedding=TokenEmbedding,
        PositionalEncoding=PositionalEncoding,
        EncoderBlock=EncoderBlock,
        DecoderBlock=c["DecoderBlock"],
        OutputProjection=OutputProjection,
        DecoderOnlyLM=DecoderOnlyLM,
        causal_mask=causal_mask,
        padding_mask=c["padding_mask"],
        sample_next_token=c["sample_next_token"],
        rows=rows,
    )


@contextlib.contextmanager
def recorded_attention(model: nn.Module):
    """Inside this block, every attention module of `model` keeps its latest weights in `.last_weights`.

    Works for any module with `w_q`, `w_k` (nn.Linear) and `num_heads` (your MultiHeadAttention or the
    library's): a hook recomputes softmax(Q_h K_h^T / sqrt(d_head)), masked, from the module's own
    projections and the query, key and mask it was called with. `(B, H, T_q, T_k)`, detached.
    """

    def hook(module, args, kwargs, output):
        names = ("query", "key", "value", "mask")
        given = dict(zip(names, args)) | {k: v for k, v in kwargs.items() if k in names}
        query, key, mask = given["query"], given["key"], given.get("mask")
        with torch.no_grad():
            q = _attention.split_heads(module.w_q(query), module.num_heads)  # (B, H, T_q, d_head)
            k = _attention.split_heads(module.w_k(key), module.num_heads)  # (B, H, T_k, d_head)
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T_q, T_k)
            if mask is not None:
                mask = mask.unsqueeze(-3) if mask.dim() == 3 else mask  # one mask for every head
                scores = scores.masked_fill(~mask, float("-inf"))
            module.last_weights = torch.softmax(scores, dim=-1)

    handles = [m.register_forward_hook(hook, with_kwargs=True) for m in model.modules()
               if isinstance(getattr(m, "w_q", None), nn.Linear) and hasattr(m, "num_heads")]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()
