"""Checks for 01_embeddings: vocabulary, encoding, embedding lookup, positional encoding.

The notebook's exercises (names documented in the notebook):

- `build_vocabulary(tokens)` -> dict token -> id: "<pad>" -> 0, "<unk>" -> 1, then every distinct
  token in the order of its first appearance, ids 2, 3, ...;
- `encode(tokens, vocab)` -> list of ints, unknown tokens -> the id of "<unk>";
- `embedding_lookup(token_ids, table)` -> table[token_ids], `(...)` long, `(V, d_model)` -> `(..., d_model)`;
- `one_hot_embedding(token_ids, table)` -> one_hot(token_ids, V) @ table, the same numbers;
- `sinusoidal_positional_encoding(seq_len, d_model)` (CONTRACT.md).

Expected values come from oracles written here (plain Python for the vocabulary, float64 for the
encoding), never from the student's code or the course library. Every known mistake is named in
the failure message (`mistakes=` of `expect_close`).
"""

from __future__ import annotations

import math

import torch

from course_check.common import (
    cases,
    backward_in_kernel,
    DTYPES,
    _isinstance,
    call,
    check,
    expect,
    expect_close,
    expect_tensor,
    guarded,
    is_close,
    randn,
    seeded,
)

_dict, _list, _int, _str = dict, list, int, str

PAD, UNK = "<pad>", "<unk>"


# ---------------------------------------------------------------------------------------------
# build_vocabulary / encode
# ---------------------------------------------------------------------------------------------
_TOKEN_LISTS = [
    ["the", "cat", "sat", "on", "the", "mat", "."],
    ["to", "be", "or", "not", "to", "be", ",", "that", "is", "the", "question"],
    list("hello world"),
    ["zebra", "apple", "mango", "apple", "banana", "zebra", "cherry"],
]


def _vocabulary(tokens) -> dict:
    vocab = {PAD: 0, UNK: 1}
    for token in tokens:
        if token not in vocab:
            vocab[token] = len(vocab)
    return vocab


def _vocabulary_mistakes(tokens) -> dict:
    distinct = list(dict.fromkeys(tokens))
    return {
        "you numbered the tokens in sorted order; number them in the order they first appear":
            {PAD: 0, UNK: 1, **{t: i + 2 for i, t in enumerate(sorted(distinct))}},
        "you forgot the special tokens: \"<pad>\" must have id 0 and \"<unk>\" id 1":
            {t: i for i, t in enumerate(distinct)},
        "the special tokens are swapped: \"<pad>\" must have id 0 and \"<unk>\" id 1":
            {UNK: 0, PAD: 1, **{t: i + 2 for i, t in enumerate(distinct)}},
        "you used each token's position in the list as its id, so after a repeated token the ids skip numbers; "
        "give each distinct token the next free id (len(vocab)) the first time you see it":
            {PAD: 0, UNK: 1, **{t: tokens.index(t) + 2 for t in distinct}},
        "a repeated token's id was overwritten by its position at the last appearance; give each distinct "
        "token one id, the next free one, only the first time you see it (check `if token not in vocab`)":
            {PAD: 0, UNK: 1, **{t: len(tokens) - 1 - tokens[::-1].index(t) + 2 for t in distinct}},
        "the ids of the ordinary tokens start at 1 (or 0) instead of 2, colliding with the special tokens":
            {PAD: 0, UNK: 1, **{t: i + 1 for i, t in enumerate(distinct)}},
    }


def _show(mapping, limit: int = 8) -> str:
    items = list(mapping.items())
    text = ", ".join(f"{k!r}: {v!r}" for k, v in items[:limit])
    return "{" + text + (", ..." if len(items) > limit else "") + "}"


@check
def vocabulary_special_ids(build_vocabulary):
    """"<pad>" -> 0 and "<unk>" -> 1, whatever the tokens; the result is a dict of ints."""
    run = guarded(build_vocabulary, "none", "Vocabulary")
    for tokens in _TOKEN_LISTS + [[]]:
        described = f"build_vocabulary({tokens!r})"
        vocab = call(run, described, list(tokens))
        if not _isinstance(vocab, _dict):
            raise AssertionError(f"{described} should return a dict (token -> id), but it returned {type(vocab).__name__}.")
        for special, want in ((PAD, 0), (UNK, 1)):
            got = vocab.get(special)
            if got is None or not _isinstance(got, _int) or got != want:
                swapped = vocab.get(PAD) == 1 and vocab.get(UNK) == 0
                raise AssertionError(
                    f"In {described}, {special!r} should have id {want}, but it has "
                    f"{'no id' if got is None else repr(got)}."
                    + (" You swapped the two special tokens." if swapped else "")
                    + " Put \"<pad>\" (id 0) and \"<unk>\" (id 1) in the dict before any other token."
                )


@check
def vocabulary_order(build_vocabulary):
    """Every distinct token once, ids 2, 3, ... in order of first appearance; the input list untouched."""
    run = guarded(build_vocabulary, "none", "Vocabulary")
    for tokens in _TOKEN_LISTS:
        given = list(tokens)
        described = f"build_vocabulary({tokens!r})"
        vocab = call(run, described, given)
        if given != tokens:
            raise AssertionError(f"{described} changed the list it was given; build a new dict and leave the tokens alone.")
        if not _isinstance(vocab, _dict):
            raise AssertionError(f"{described} should return a dict (token -> id), but it returned {type(vocab).__name__}.")
        want = _vocabulary(tokens)
        if vocab == want:
            continue
        message = f"{described} returned {_show(vocab)}, expected {_show(want)}."
        missing = [t for t in want if t not in vocab]
        extra = [t for t in vocab if t not in want]
        found = next((text for text, wrong in _vocabulary_mistakes(tokens).items() if vocab == wrong), None)
        if found:
            message += f" It looks like {found}."
        elif missing:
            message += f" These tokens are missing: {missing[:5]}."
        elif extra:
            message += f" These keys should not be there: {extra[:5]}."
        raise AssertionError(message)


def _encode_mistakes(tokens, vocab) -> dict:
    return {
        "unknown tokens were dropped; encode each unknown token as the id of \"<unk>\" (1) so the lengths match":
            [vocab[t] for t in tokens if t in vocab],
        "unknown tokens got the padding id 0; they should get the id of \"<unk>\" (1)":
            [vocab.get(t, 0) for t in tokens],
        "unknown tokens got -1; they should get the id of \"<unk>\" (1)":
            [vocab.get(t, -1) for t in tokens],
        "the tokens' case was changed before the lookup (e.g. .lower()); look every token up exactly as given: "
        "\"The\" and \"the\" are different tokens": [vocab.get(t.lower(), 1) for t in tokens],
    }


_ENCODE_CASES = [
    (["the", "cat", "sat", "on", "the", "mat"], ["the", "mat", "sat", "on", "the", "cat", "the"]),
    (["The", "cat", "saw", "the", "Cat"], ["Cat", "the", "The", "cat", "saw"]),  # tokens are case-sensitive
    (list("hello world"), list("low hold")),
    (["to", "be", "or", "not"], ["not", "to", "be"]),
]
_UNKNOWN_CASES = [
    (["the", "cat", "sat", "on", "the", "mat"], ["the", "dog", "sat", "on", "the", "sofa"]),
    (list("hello world"), list("hello there!")),
    (["a", "b"], ["c", "a", "d", "b", "e"]),
]


def _check_encode(encode, cases) -> None:
    run = guarded(encode, "none", "Vocabulary")
    for vocab_tokens, tokens in cases:
        vocab = _vocabulary(vocab_tokens)
        described = f"encode({tokens!r}, vocab) with vocab = {_show(vocab, 12)}"
        ids = call(
            run, described, list(tokens), dict(vocab),
            hint="Look every token up in the dict; a token that is not in it gets vocab[\"<unk>\"] (use vocab.get).",
        )
        if _isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        if not _isinstance(ids, _list):
            raise AssertionError(f"{described} should return a list of ints, but it returned {type(ids).__name__}.")
        want = [vocab.get(t, 1) for t in tokens]
        if ids == want and all(_isinstance(i, _int) for i in ids):
            continue
        if ids == want:
            raise AssertionError(f"{described} returned the right numbers, but not as Python ints: {[type(i).__name__ for i in ids][:3]}.")
        message = f"{described} returned {ids}, expected {want}."
        found = next((text for text, wrong in _encode_mistakes(tokens, vocab).items() if ids == wrong), None)
        if found:
            message += f" It looks like {found}."
        raise AssertionError(message)


@check
def encode_known(encode):
    """Known tokens map to their ids, in order, one id per token."""
    _check_encode(encode, _ENCODE_CASES)


@check
def encode_unknown(encode):
    """Tokens missing from the vocabulary map to the id of "<unk>" (1), without dropping any."""
    _check_encode(encode, _UNKNOWN_CASES)


# ---------------------------------------------------------------------------------------------
# embedding_lookup / one_hot_embedding
# ---------------------------------------------------------------------------------------------
_ID_SHAPES = [(), (5,), (2, 5), (2, 3, 4)]


def _ids(shape, vocab_size: int, seed: int, high: int | None = None) -> torch.Tensor:
    return torch.randint(0, high or vocab_size, shape, generator=seeded(seed), dtype=torch.long)


def _lookup_mistakes(ids: torch.Tensor, table: torch.Tensor) -> dict:
    d_model = table.shape[1]
    out = {
        "you multiplied by sqrt(d_model); this exercise is the plain lookup E[id] (the scaling comes later, in the model)":
            table[ids] * math.sqrt(d_model),
    }
    # table[ids - 1] wraps id 0 around to the last row, as the student's code would.
    out["the ids are shifted by one (row id - 1); ids start at 0, so token id i is row i of the table"] = table[ids - 1]
    if int(ids.max()) + 1 < table.shape[0]:
        out["the ids are shifted by one (row id + 1); ids start at 0, so token id i is row i of the table"] = table[ids + 1]
    return {text: wrong for text, wrong in out.items() if not is_close(wrong, table[ids])}


def _check_lookup(fn, name: str, subject_reference: str, high_ids: bool, shapes) -> None:
    run = guarded(fn, "embedding", subject_reference)
    for dtype in DTYPES:
        table = randn(11, 6, seed=100, dtype=dtype)
        for n, shape in enumerate(shapes):
            # Without high_ids the ids avoid the last rows, so a one-hot width taken from the ids shows.
            ids = _ids(shape, 11, seed=110 + n, high=None if high_ids else 8)
            described = f"{name}(token_ids of shape {shape}, {dtype} table of shape (11, 6))"
            hint = "Index the rows of the table, table[token_ids]: row i is the vector of token id i."
            if name == "one_hot_embedding":
                hint = (
                    "Build the one-hot vectors with V = table.shape[0] classes (F.one_hot(token_ids, num_classes=V)), "
                    "convert them to the table's dtype, then multiply: one_hot @ table."
                )
            out = call(run, described, ids.clone(), table.clone(), hint=hint)
            expect(out, table[ids], described, mistakes=_lookup_mistakes(ids, table), hint=hint)


@check
def embedding_lookup_values(embedding_lookup):
    """table[token_ids] for ids of shape (T,) and () (a single id), float32 and float64 tables."""
    _check_lookup(embedding_lookup, "embedding_lookup", "embedding_lookup", high_ids=True, shapes=[(5,), (1,), ()])


@check
def embedding_lookup_batch_dims(embedding_lookup):
    """table[token_ids] for ids with leading batch dimensions, (B, T) and (B, T, ...)."""
    _check_lookup(embedding_lookup, "embedding_lookup", "embedding_lookup", high_ids=True, shapes=[(2, 5), (2, 3, 4)])


@check
def one_hot_embedding_values(one_hot_embedding):
    """one_hot(token_ids, V) @ table equals table[token_ids] for any id shape, keeping the table's dtype."""
    _check_lookup(one_hot_embedding, "one_hot_embedding", "one_hot_embedding", high_ids=False, shapes=_ID_SHAPES)


@check
def one_hot_embedding_gradient(one_hot_embedding):
    """The gradient reaches exactly the rows of the table that were used (as with indexing)."""
    run = guarded(one_hot_embedding, "embedding", "one_hot_embedding")
    ids = torch.tensor([[1, 4, 1], [0, 4, 6]])
    table = randn(8, 3, seed=130).requires_grad_(True)
    with backward_in_kernel():  # out.sum().backward() where the student's code ran (no-op for local code)
        out = call(run, "one_hot_embedding(token_ids of shape (2, 3), table of shape (8, 3))", ids, table)
    expect_tensor(out, "one_hot_embedding(token_ids of shape (2, 3), table of shape (8, 3))", shape=(2, 3, 3))
    if not out.requires_grad:
        raise AssertionError(
            "one_hot_embedding's result does not depend on the table for autograd (it has no gradient): "
            "compute it from the table with differentiable operations (a matrix product), without .detach() or .numpy()."
        )
    if table.grad is None:
        out.sum().backward()
    want = torch.zeros(8, 3)
    for i in ids.flatten().tolist():
        want[i] += 1.0
    expect_close(
        table.grad, want,
        "the gradient of one_hot_embedding(ids, table).sum() with respect to the table "
        "(each row: how many times its id occurs)",
    )


# ---------------------------------------------------------------------------------------------
# sinusoidal_positional_encoding
# ---------------------------------------------------------------------------------------------
# The result is float32; a correct float32 computation (exp/log frequencies, positions up to 100)
# differs from the float64 oracle by up to ~1e-5, while every mistake below is off by > 0.01.
_PE_TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}


def _pe_oracle(seq_len: int, d_model: int, *, column_exponent=None, first_position: int = 0,
               layout: str = "interleaved", multiply: bool = False) -> torch.Tensor:
    """The encoding in float64; keyword arguments build the known mistakes."""
    p = torch.arange(first_position, first_position + seq_len, dtype=torch.float64)[:, None]  # (T, 1)
    j = torch.arange(d_model, dtype=torch.float64)  # column index
    pair = torch.div(j, 2, rounding_mode="floor")
    exponent = (2 * pair / d_model) if column_exponent is None else column_exponent(j, pair, d_model)
    frequency = 10000.0 ** exponent  # (d_model,)
    angle = p * frequency if multiply else p / frequency  # (T, d_model)
    even = (torch.arange(d_model) % 2 == 0)
    if layout == "interleaved":
        return torch.where(even, torch.sin(angle), torch.cos(angle))
    if layout == "swapped":
        return torch.where(even, torch.cos(angle), torch.sin(angle))
    # "halves": [sin of all pairs | cos of all pairs]
    half = angle[:, 0::2]
    return torch.cat([torch.sin(half), torch.cos(half)], dim=-1)


def _pe_mistakes(seq_len: int, d_model: int) -> dict:
    out = {
        "you concatenated the sines and the cosines as two halves [sin ... | cos ...]; they are interleaved: "
        "sin in the even columns 0, 2, 4, ... and cos in the odd columns 1, 3, 5, ...":
            _pe_oracle(seq_len, d_model, layout="halves"),
        "sin and cos are swapped: sin goes in the even columns (2i) and cos in the odd ones (2i+1)":
            _pe_oracle(seq_len, d_model, layout="swapped"),
        "the exponent is i/d_model instead of 2i/d_model (i is the pair index, so the exponent of pair i is 2i/d_model)":
            _pe_oracle(seq_len, d_model, column_exponent=lambda j, pair, d: pair / d),
        "each column uses its own column index j in 10000^(j/d_model); the two columns 2i and 2i+1 of a pair share "
        "one frequency, 10000^(2i/d_model) with the pair index i = j // 2":
            _pe_oracle(seq_len, d_model, column_exponent=lambda j, pair, d: j / d),
        "you used 10000^(2j/d_model) with the column index j; the exponent uses the pair index i = j // 2, "
        "so columns 2i and 2i+1 share 10000^(2i/d_model)":
            _pe_oracle(seq_len, d_model, column_exponent=lambda j, pair, d: 2 * j / d),
        "the positions start at 1; the first position is p = 0 (its row is sin 0 = 0, cos 0 = 1 alternating)":
            _pe_oracle(seq_len, d_model, first_position=1),
        "you multiplied the position by 10000^(2i/d_model) instead of dividing by it":
            _pe_oracle(seq_len, d_model, multiply=True),
    }
    expected = _pe_oracle(seq_len, d_model).float()
    out = {text: wrong.float() for text, wrong in out.items()}
    return {text: wrong for text, wrong in out.items() if not is_close(wrong, expected, **_PE_TOLERANCE)}


def _check_pe(sinusoidal_positional_encoding, sizes) -> None:
    run = guarded(sinusoidal_positional_encoding, "none", "sinusoidal_positional_encoding")
    for seq_len, d_model in sizes:
        described = f"sinusoidal_positional_encoding(seq_len={seq_len}, d_model={d_model})"
        pe = call(run, described, seq_len, d_model)
        expect_tensor(pe, described, shape=(seq_len, d_model))
        if pe.dtype != torch.float32:
            raise AssertionError(
                f"{described} should be float32 (the dtype of the model's embeddings), but it is {pe.dtype}. "
                "Compute in float64 if you like, then convert with .float() / .to(torch.float32)."
            )
        expect(
            pe, _pe_oracle(seq_len, d_model).float(), described,
            mistakes=_pe_mistakes(seq_len, d_model), **_PE_TOLERANCE,
            hint="PE[p, 2i] = sin(p / 10000^(2i/d_model)), PE[p, 2i+1] = cos(p / 10000^(2i/d_model)), p = 0, 1, ...",
        )


@check
def pe_first_positions(sinusoidal_positional_encoding):
    """Small encodings (a few positions and pairs), where layout and frequency mistakes show at once."""
    _check_pe(sinusoidal_positional_encoding, [(1, 2), (3, 4), (6, 8), (5, 6), (10, 4)])


@check
def pe_values(sinusoidal_positional_encoding):
    """Larger encodings: up to 100 positions and 64 features."""
    _check_pe(sinusoidal_positional_encoding, [(50, 16), (100, 64), (64, 32), (7, 128), (100, 10)])


@check
def pe_shape_dtype(sinusoidal_positional_encoding):
    """Shape (seq_len, d_model) and dtype float32 for several sizes, including d_model = 2 and seq_len = 1."""
    run = guarded(sinusoidal_positional_encoding, "none", "sinusoidal_positional_encoding")
    for seq_len, d_model in cases([(1, 2), (1, 64), (17, 2), (9, 10), (33, 12)]):
        described = f"sinusoidal_positional_encoding(seq_len={seq_len}, d_model={d_model})"
        pe = call(run, described, seq_len, d_model)
        if _isinstance(pe, torch.Tensor) and tuple(pe.shape) == (d_model, seq_len) and seq_len != d_model:
            raise AssertionError(
                f"{described} has shape {tuple(pe.shape)}, transposed: it should be (seq_len, d_model) = "
                f"{(seq_len, d_model)}, one row per position."
            )
        expect_tensor(pe, described, shape=(seq_len, d_model), dtype=torch.float32)


@check
def pe_odd_d_model(sinusoidal_positional_encoding):
    """An odd d_model raises ValueError whose message names d_model (sin and cos come in pairs)."""
    run = guarded(sinusoidal_positional_encoding, "none", "sinusoidal_positional_encoding")
    for seq_len, d_model in cases([(4, 5), (10, 7), (1, 1), (3, 33)]):
        described = f"sinusoidal_positional_encoding(seq_len={seq_len}, d_model={d_model})"
        try:
            run(seq_len, d_model)
        except AssertionError:
            raise
        except ValueError as err:
            if "d_model" not in _str(err):
                raise AssertionError(
                    f"{described} raised ValueError({_str(err)!r}); the message should name the argument `d_model`."
                ) from None
            continue
        except Exception as err:
            raise AssertionError(
                f"{described} raised {type(err).__name__}; it should raise ValueError naming `d_model` "
                "(an odd width cannot be filled with sin/cos pairs)."
            ) from None
        raise AssertionError(
            f"{described} returned a result; it should raise ValueError naming `d_model`: every position needs "
            "sin/cos pairs, so d_model must be even. Check `d_model % 2` first."
        )
