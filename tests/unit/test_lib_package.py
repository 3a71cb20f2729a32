"""The library's public surface: the names others code against, and the docstring conventions."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import transformer_reference as tr

pytestmark = [pytest.mark.filterwarnings("error"), pytest.mark.usefixtures("single_threaded_torch")]

ASSIGNMENTS = {
    "01_embeddings", "02_attention", "03_masking", "04_multihead",
    "05_cross_attention", "06_add_norm", "07_output", "08_capstone",
}  # fmt: skip

# The parameters of every public callable, as published in the API notes; notebooks,
# grader checks and the capstone call them by these names.
SIGNATURES = {
    "char_tokenize": ["text"],
    "word_tokenize": ["text"],
    "Vocabulary": ["tokens"],
    "pad_batch": ["sequences", "pad_id"],
    "embedding_lookup": ["token_ids", "table"],
    "one_hot_embedding": ["token_ids", "table"],
    "sinusoidal_positional_encoding": ["seq_len", "d_model"],
    "TokenEmbedding": ["vocab_size", "d_model", "scale"],
    "PositionalEncoding": ["d_model", "max_len"],
    "softmax": ["x", "dim"],
    "scaled_dot_product_attention": ["q", "k", "v", "mask"],
    "causal_mask": ["seq_len"],
    "padding_mask": ["token_ids", "pad_id"],
    "split_heads": ["x", "num_heads"],
    "merge_heads": ["x"],
    "MultiHeadAttention": ["d_model", "num_heads"],
    "layer_norm": ["x", "gamma", "beta", "eps"],
    "add_and_norm": ["x", "sublayer_out", "gamma", "beta", "eps"],
    "LayerNorm": ["d_model", "eps"],
    "ResidualNorm": ["d_model", "norm_first"],
    "FeedForward": ["d_model", "d_ff"],
    "MixtureOfExperts": ["d_model", "d_ff", "num_experts", "top_k"],
    "OutputProjection": ["d_model", "vocab_size", "tied_weight"],
    "softmax_with_temperature": ["logits", "temperature"],
    "sample_next_token": ["logits", "temperature", "generator"],
    "EncoderBlock": ["d_model", "num_heads", "d_ff", "norm_first"],
    "DecoderBlock": ["d_model", "num_heads", "d_ff", "norm_first"],
    "EncoderDecoder": [
        "src_vocab_size", "tgt_vocab_size", "d_model", "num_heads", "d_ff", "num_layers", "max_len", "pad_id",
    ],  # fmt: skip
    "DecoderOnlyLM": ["vocab_size", "d_model", "num_heads", "d_ff", "num_layers", "max_len"],
}

METHOD_SIGNATURES = {
    ("MultiHeadAttention", "forward"): ["query", "key", "value", "mask"],
    ("ResidualNorm", "forward"): ["x", "sublayer"],
    ("EncoderBlock", "forward"): ["x", "src_mask"],
    ("DecoderBlock", "forward"): ["x", "memory", "tgt_mask", "memory_mask"],
    ("EncoderDecoder", "encode"): ["src"],
    ("EncoderDecoder", "decode"): ["tgt", "memory", "src"],
    ("EncoderDecoder", "forward"): ["src", "tgt"],
    ("EncoderDecoder", "greedy_decode"): ["src", "bos_id", "max_len"],
    ("DecoderOnlyLM", "forward"): ["ids"],
    ("DecoderOnlyLM", "generate"): ["ids", "max_new_tokens", "temperature", "generator"],
    ("Vocabulary", "from_texts"): ["texts", "tokenize"],
    ("Vocabulary", "encode"): ["tokens"],
    ("Vocabulary", "decode"): ["ids"],
}


def parameter_names(func) -> list[str]:
    return [name for name in inspect.signature(func).parameters if name != "self"]


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_public_callable_has_the_published_signature(name):
    assert name in tr.__all__, f"{name} is not exported from transformer_reference"
    assert parameter_names(getattr(tr, name)) == SIGNATURES[name]


@pytest.mark.parametrize(("owner", "method"), sorted(METHOD_SIGNATURES), ids="{0[0]}.{0[1]}".format)
def test_public_method_has_the_published_signature(owner, method):
    assert parameter_names(getattr(getattr(tr, owner), method)) == METHOD_SIGNATURES[(owner, method)]


def test_constants():
    assert (tr.PAD_TOKEN, tr.UNK_TOKEN, tr.PAD_ID, tr.UNK_ID) == ("<pad>", "<unk>", 0, 1)


def public_callables():
    return [name for name in tr.__all__ if callable(getattr(tr, name)) and not inspect.ismodule(getattr(tr, name))]


@pytest.mark.parametrize("name", public_callables())
def test_docstring_has_summary_line_and_points_to_its_notebook(name):
    doc = inspect.getdoc(getattr(tr, name))
    assert doc, f"{name} has no docstring"
    summary, _, rest = doc.partition("\n")
    assert summary.strip() and (not rest or rest.startswith("\n")), f"{name}: one summary line, then a blank line"
    taught = re.findall(r"Taught in: course/(\w+)", doc)
    assert taught and set(taught) <= ASSIGNMENTS, f"{name} must say 'Taught in: course/<assignment>'"


def test_package_docstring_defines_the_dimension_letters():
    for letter in ("B ", "T ", "T_q, T_k", "d_model", "H ", "d_head", "d_k, d_v", "V ", "d_ff"):
        assert letter in tr.__doc__, f"the package docstring should define {letter.strip()}"


def test_importing_the_library_is_silent():
    """Nothing may write to stderr in a correct notebook run (nbgrader zeroes the cell)."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import transformer_reference"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result.stderr


def test_the_library_knows_nothing_of_grading():
    """The reference library is graded against, never the other way round: no module reads
    nbgrader's environment or imports the grader (the notebook decides its own schedule)."""
    lib = Path(tr.__file__).parent
    for path in sorted(lib.rglob("*.py")):
        text = path.read_text()
        for word in ("NBGRADER", "import grader", "from grader"):
            assert word not in text, f"{path.relative_to(lib.parent)} mentions {word!r}"
