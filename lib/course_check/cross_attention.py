"""Checks for cross_attention, decoder_masks (05_cross_attention) and DecoderBlock (07_output).

Expected values come from float64 oracles (`course_check.multihead.mha64` for attention, a layer
norm and feed-forward network written here), never from the student's code. Every comparison names
the mistake the output matches: queries, keys or values taken from the wrong sequence, a causal mask
in cross attention, a source mask that lands on the wrong axis, a missing residual, the norm in the
wrong place (pre-norm, or the sublayer output normalised before the addition), self-attention without
its causal mask.

The decoder has T positions and the source S positions, with T != S, so taking keys or values from
the wrong sequence raises an error or gives a wrong shape. When the student's code raises for T != S,
the check runs it once more with S = T, where the mistake runs silently, and names the mistake from
that output. Masks are per batch element ((B, 1, S) source padding) with B != H, plus one case with
B == H where a mask that lands on the head axis broadcasts silently.

Each exercise is graded on its own: `cross_attention` gets a multi-head attention module built here;
while `DecoderBlock` runs, the notebook's own `cross_attention` and `decoder_masks` (if the block
calls them) are replaced by correct stand-ins. Weights are copied into the block explicitly
(`self_attn.w_q.weight`, ..., `norm3.bias`), never drawn from the student's initialisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from course_check.common import (
    cases,
    DTYPES,
    _getattr,
    _isinstance,
    check,
    distinct,
    expect_close,
    expect_tensor,
    grade_alone,
    guarded,
    is_close,
    load_weights,
    no_delegation,
    randn,
    seeded,
)
from course_check.multihead import (
    PROJECTIONS,
    attempt,
    build_module,
    explain_mask_error,
    explain_view_error,
    linear_layer,
    load_mha,
    mha64,
    mha_weights,
    unchanged,
)

_str = str
_clone = torch.Tensor.clone

EPS = 1e-5


# The notebook's own earlier helpers each exercise is graded without (`grade_alone` swaps in
# correct ones), so a mistake in a helper costs points only in the helper's own tests.
STAND_INS = {"DecoderBlock": ("cross_attention",)}


# ---------------------------------------------------------------------------------------------
# Inputs.
# ---------------------------------------------------------------------------------------------
def _lengths_mask(lengths, T: int, left: bool = False) -> torch.Tensor:
    """(B, T) bool, True on the real tokens; padding at the end (or at the start if `left`)."""
    pos = torch.arange(T)[None, :]
    lengths = torch.as_tensor(lengths)[:, None]
    return pos >= (T - lengths) if left else pos < lengths


def _source_mask(B: int, S: int, seed: int) -> torch.Tensor:
    """(B, 1, S) source padding mask with a different length per batch element (one without padding)."""
    g = seeded(seed)
    lengths = torch.randint(1, S, (B,), generator=g)
    lengths[0] = S
    if B > 1:
        lengths[1] = max(1, S // 2)
    return _lengths_mask(lengths, S).unsqueeze(1)


# ---------------------------------------------------------------------------------------------
# A multi-head attention module built here, handed to the student's cross_attention.
# ---------------------------------------------------------------------------------------------
class GraderMultiHeadAttention(nn.Module):
    """Correct multi-head attention with the course's attribute names (w_q, w_k, w_v, w_o, num_heads,
    d_head, d_model). It has no `last_weights`: the exercise computes the weights itself."""

    def __init__(self, d_model: int, num_heads: int, W: dict, dtype):
        super().__init__()
        self.d_model, self.num_heads, self.d_head = d_model, num_heads, d_model // num_heads
        for name in PROJECTIONS:
            setattr(self, name, nn.Linear(d_model, d_model, dtype=dtype))
        with torch.no_grad():
            for name in PROJECTIONS:
                _getattr(self, name).weight.copy_(W[f"{name}.weight"])
                _getattr(self, name).bias.copy_(W[f"{name}.bias"])

    def forward(self, query, key, value, mask=None):
        return mha64(query, key, value, _module_weights(self), self.num_heads, mask)


def _module_weights(mha) -> dict:
    """The four projections' parameters of a multi-head attention module, as float64 (mha64's format)."""
    return {f"{n}.{p}": _getattr(_getattr(mha, n), p).detach().double() for n in PROJECTIONS for p in ("weight", "bias")}


def cross_attention_stand_in(decoder_x, encoder_out, mha, src_mask=None):
    """Correct cross_attention used while DecoderBlock is graded."""
    out = mha(decoder_x, encoder_out, encoder_out, src_mask)
    _, weights = mha64(decoder_x, encoder_out, encoder_out, _module_weights(mha), mha.num_heads, src_mask, weights_out=True)
    return out, weights


# ---------------------------------------------------------------------------------------------
# cross_attention
# ---------------------------------------------------------------------------------------------
CAUSAL_IN_CROSS = (
    "you applied a causal (lower-triangular) mask in cross attention; the source sentence is known "
    "completely before decoding starts, so every decoder position may look at every real source "
    "position: use only the source padding mask"
)


def _cross_variants(dec, enc, W, H, mask) -> dict:
    """Mistakes of cross attention as (output, weights) pairs, keyed by a plain-words description."""
    run = lambda q, k, v, **kw: mha64(q, k, v, W, H, mask, weights_out=True, **kw)
    out = {
        CAUSAL_IN_CROSS: run(dec, enc, enc, mask_mode="causal"),
        "you divided the scores by sqrt(d_model); each head works in d_head = d_model // num_heads "
        "dimensions, so divide by sqrt(d_head)": run(dec, enc, enc, scale="model"),
        "you did not divide the scores by sqrt(d_head)": run(dec, enc, enc, scale="none"),
        "the output projection w_o is missing": run(dec, enc, enc, project_o=False),
        "the values are not projected with w_v": run(dec, enc, enc, use=("w_q", "w_k", None)),
        "you took the softmax over the decoder positions (dim=-2) instead of over the source positions "
        "(the keys, last axis)": run(dec, enc, enc, softmax_dim=-2),
    }
    if mask is not None:
        out.update({
            "the source mask is ignored: padded source positions must get weight 0": run(dec, enc, enc, mask_mode="ignored"),
            "the source mask is inverted: True means 'may attend'": run(dec, enc, enc, mask_mode="inverted"),
            "you set the masked scores to 0; they must become -inf (or a very negative number)":
                run(dec, enc, enc, mask_mode="zero"),
            "your source mask lands on the head axis instead of the batch axis: a (B, 1, S) mask needs a head "
            "axis at position 1 (mask.unsqueeze(-3) -> (B, 1, 1, S)) so all heads of batch element b share "
            "mask b": run(dec, enc, enc, mask_mode="heads"),
        })
    if dec.shape[1] == enc.shape[1]:  # role mistakes only run when T == S
        out.update({
            "the queries come from the encoder and the keys and values from the decoder; in cross attention "
            "the decoder asks (queries) and the encoder output answers (keys and values)": run(enc, dec, dec),
            "the keys come from the decoder: keys and values must both come from the encoder output":
                run(dec, dec, enc),
            "the values come from the decoder: keys and values must both come from the encoder output":
                run(dec, enc, dec),
            "this is self-attention on the decoder: keys and values must come from the encoder output":
                run(dec, dec, dec),
        })
    return {text: pair for text, pair in out.items() if pair is not None}


def _shape_hints(B, H, T, S, d_model) -> tuple[dict, dict]:
    out_hints = {(B, S, d_model): "one row per source position: the queries must come from decoder_x (the decoder asks)"}
    weight_hints = {
        (B, H, S, S): "the queries come from the encoder: the decoder asks (queries), the encoder output answers",
        (B, H, T, T): "the keys come from the decoder: keys and values must come from encoder_out",
        (B, H, S, T): "queries and keys are swapped: rows are decoder positions (queries), columns source positions",
        (B, T, S): "return the weights of every head separately, (B, H, T, S), not their average",
    }
    return out_hints, weight_hints


def _expect_shape(actual, shape, what, hints):
    expect_tensor(actual, what)
    got = tuple(actual.shape)
    if got != tuple(shape):
        extra = hints.get(got)
        raise AssertionError(f"{what} should have shape {tuple(shape)}, but it has shape {got}" + (f": {extra}." if extra else "."))


def _diagnose_square(call, B, H, S, d_model, dtype, seed, mask, W):
    """The student's code failed with T != S; run it with T = S and name the mistake its output matches."""
    dec = randn(B, S, d_model, seed=seed, dtype=dtype)
    enc = randn(B, S, d_model, seed=seed + 1, dtype=dtype)
    try:
        result = call(dec, enc, mask)
    except Exception:
        return None
    if not (_isinstance(result, tuple) and len(result) == 2 and _isinstance(result[0], torch.Tensor)):
        return None
    for text, (wrong_out, _) in _cross_variants(dec, enc, W, H, mask).items():
        if is_close(result[0], wrong_out, rtol=1e-3, atol=1e-4):
            return text
    return None


def _check_cross(cross_attention, B, T, S, d_model, H, dtype, seed, mask=None):
    run = guarded(cross_attention, "attention", None)
    W = mha_weights(d_model, seed, dtype)
    mha = GraderMultiHeadAttention(d_model, H, W, dtype)
    dec = randn(B, T, d_model, seed=seed + 1, dtype=dtype)
    enc = randn(B, S, d_model, seed=seed + 2, dtype=dtype)
    described = (f"cross_attention(decoder_x {(B, T, d_model)}, encoder_out {(B, S, d_model)}, mha with "
                 f"num_heads={H}" + (f", src_mask {tuple(mask.shape)}" if mask is not None else "") + f") in {dtype}")

    def call(d, e, m):
        saved = [(n, a, _clone(a)) for n, a in (("decoder_x", d), ("encoder_out", e)) if _isinstance(a, torch.Tensor)]
        result = run(d, e, mha, m)
        unchanged(saved, "cross_attention")
        return result

    try:
        result = call(dec, enc, mask)
    except (AssertionError, NotImplementedError):
        raise
    except Exception as err:
        square_mask = None if mask is None else _source_mask(B, S, seed + 3)
        found = _diagnose_square(call, B, H, S, d_model, dtype, seed + 4, square_mask, W)
        text = f"{described} raised {type(err).__name__}: {_str(err)[:200]}"
        if found:
            text += f" With as many decoder as source positions it runs, and it looks like {found}."
        else:
            text += " " + (explain_view_error(err) or explain_mask_error(err) or "")
        raise AssertionError(text.strip()) from None

    if not (_isinstance(result, tuple) and len(result) == 2):
        raise AssertionError(f"{described} should return a pair (output, weights), but it returned {type(result).__name__}.")
    out, weights = result
    out_hints, weight_hints = _shape_hints(B, H, T, S, d_model)
    _expect_shape(out, (B, T, d_model), f"the output of {described}", out_hints)
    _expect_shape(weights, (B, H, T, S), f"the weights of {described}", weight_hints)
    expected_out, expected_weights = mha64(dec, enc, enc, W, H, mask, weights_out=True)
    variants = None

    def mistakes(index):
        nonlocal variants
        if variants is None:
            variants = _cross_variants(dec, enc, W, H, mask)
        expected = (expected_out, expected_weights)[index]
        return distinct({text: pair[index] for text, pair in variants.items()}, expected)

    for index, (actual, expected, what) in enumerate([(out, expected_out, "the output"), (weights, expected_weights, "the weights")]):
        if not (actual.dtype == expected.dtype and is_close(actual, expected)):
            expect_close(actual, expected, f"{what} of {described}", mistakes=mistakes(index))


@check
def cross_attention_values(cross_attention):
    """Decoder queries over encoder keys and values, T != S, no mask; output and per-head weights, float32 and float64."""
    for dtype in DTYPES:
        _check_cross(cross_attention, 3, 4, 6, 8, 2, dtype, seed=700)
        _check_cross(cross_attention, 2, 5, 3, 12, 4, dtype, seed=710)


@check
def cross_attention_padding(cross_attention):
    """Source padding masks (B, 1, S) and (B, T, S), per batch element and shared by all heads; no causal mask."""
    for dtype in DTYPES:
        for i, (B, T, S, d_model, H) in enumerate(cases([(3, 4, 6, 8, 2), (2, 5, 7, 16, 4), (2, 3, 5, 8, 2)])):  # the last: B == H
            mask = _source_mask(B, S, seed=720 + i)
            _check_cross(cross_attention, B, T, S, d_model, H, dtype, seed=730 + 10 * i, mask=mask)
        g = seeded(760)
        full = torch.rand(3, 4, 6, generator=g) < 0.6
        full[..., 2] = True  # no row without a key
        _check_cross(cross_attention, 3, 4, 6, 8, 2, dtype, seed=770, mask=full)


# ---------------------------------------------------------------------------------------------
# decoder_masks
# ---------------------------------------------------------------------------------------------
def _ids(lengths, T, pad_id, seed, left=False):
    g = seeded(seed)
    real = _lengths_mask(lengths, T, left)
    tokens = torch.randint(0, 20, (len(lengths), T), generator=g)
    tokens = torch.where(tokens == pad_id, tokens + 1, tokens)  # no accidental padding among real tokens
    if pad_id != 0:  # a real token 0, so that comparing with 0 instead of pad_id shows
        first_real = real.int().argmax(dim=1)
        tokens[torch.arange(len(lengths)), first_real] = 0
    return torch.where(real, tokens, torch.full_like(tokens, pad_id)), real


def _masks_call(decoder_masks, tgt_ids, src_ids, pad_id):
    run = guarded(decoder_masks, "none", None)
    described = (f"decoder_masks(tgt_ids of shape {tuple(tgt_ids.shape)}, src_ids of shape {tuple(src_ids.shape)}, "
                 f"pad_id={pad_id})")
    saved = [("tgt_ids", tgt_ids, _clone(tgt_ids)), ("src_ids", src_ids, _clone(src_ids))]
    result = attempt(lambda: run(tgt_ids, src_ids, pad_id), described)
    unchanged(saved, "decoder_masks")
    if not (_isinstance(result, tuple) and len(result) == 2):
        raise AssertionError(f"{described} should return a pair (tgt_mask, memory_mask), but it returned {type(result).__name__}.")
    return result, described


def _expanded(mask, shape, what):
    expect_tensor(mask, what)
    if mask.dtype != torch.bool:
        raise AssertionError(f"{what} should be a boolean tensor (True = may attend), but it has dtype {mask.dtype}.")
    try:
        ok = torch.broadcast_shapes(mask.shape, shape) == torch.Size(shape)
    except RuntimeError:
        ok = False
    if not ok:
        raise AssertionError(f"{what} has shape {tuple(mask.shape)}, which does not broadcast to {tuple(shape)}.")
    return mask.expand(shape)


QUERY_ROWS = (
    "you also hid the rows of padded target positions (queries); only padded keys are hidden, as in notebook 03: "
    "a padded query keeps the keys it may see, otherwise its row has no allowed key and its softmax nothing to "
    "normalise"
)


def _compare_rows(actual, expected, rows, what, mistakes, hint=""):
    """Compare (B, T, K) masks on the rows selected by `rows` (B, T)."""
    a, e = actual[rows], expected[rows]
    if _equal_bool(a, e):
        return
    found = None
    for text, wrong in mistakes.items():
        if wrong is not None and not _equal_bool(wrong[rows], e) and _equal_bool(a, wrong[rows]):
            found = text
            break
    bad = (a != e).nonzero()[0].tolist()
    b, i = rows.nonzero()[bad[0]].tolist()
    j = bad[1]
    raise AssertionError(
        f"{what} is wrong: for batch element {b}, query position {i} and key position {j} it is "
        f"{bool(actual[b, i, j])}, expected {bool(expected[b, i, j])}." + (f" It looks like {found}." if found else "")
        + (f" {hint}" if hint else "")
    )


def _equal_bool(a, b) -> bool:
    return tuple(a.shape) == tuple(b.shape) and bool((a == b).all())


@check
def decoder_masks_target(decoder_masks):
    """tgt_mask: causal & target key not padding on every row (padded queries too), broadcastable to (B, T, T); right
    and left padding, any pad_id."""
    for pad_id, lengths, left in cases([(0, [5, 3, 4], False), (7, [3, 5], True), (0, [5, 2, 4], True)]):
        B, T, S = len(lengths), 5, 6
        tgt_ids, real = _ids(lengths, T, pad_id, seed=800 + pad_id, left=left)
        src_ids, _ = _ids([6, 4, 5][:B], S, pad_id, seed=810 + pad_id)
        (tgt_mask, _), described = _masks_call(decoder_masks, tgt_ids, src_ids, pad_id)
        actual = _expanded(tgt_mask, (B, T, T), f"tgt_mask of {described}")
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        key_real = real[:, None, :]
        expected = causal & key_real
        mistakes = {
            "the causal mask is missing: position i may not look at later positions j > i": key_real.expand(B, T, T),
            "the target padding does not hide the padded keys: padding_mask(tgt_ids, pad_id) has shape (B, 1, T) "
            "and hides padded key positions (columns) from every query (hiding the rows of padded queries is not "
            "enough)": causal.expand(B, T, T),
            "your causal mask is the upper triangle (queries see the future, not the past): use tril": causal.T & key_real,
            "you masked padded *queries* (rows) instead of padded keys (columns): the padding mask has shape "
            "(B, 1, T) so that it hides key columns": causal & real[:, :, None],
            "you compared with 0 instead of pad_id": causal & (tgt_ids != 0)[:, None, :],
            QUERY_ROWS: expected & real[:, :, None],
        }
        every_row = torch.ones_like(real)
        _compare_rows(actual, expected, every_row, f"tgt_mask of {described} ({'left' if left else 'right'} padding)",
                      mistakes)


@check
def decoder_masks_memory(decoder_masks):
    """memory_mask: source key not padding on every row (padded queries too), broadcastable to (B, T, S), no causal
    part; T != S, any pad_id."""
    for pad_id, src_lengths, left in cases([(0, [6, 3, 5], False), (5, [4, 6], False), (0, [6, 2, 4], True)]):
        B, T, S = len(src_lengths), 4, 6
        tgt_ids, real = _ids([4, 3, 2][:B], T, pad_id, seed=820 + pad_id)
        src_ids, src_real = _ids(src_lengths, S, pad_id, seed=830 + pad_id, left=left)
        (_, memory_mask), described = _masks_call(decoder_masks, tgt_ids, src_ids, pad_id)
        actual = _expanded(memory_mask, (B, T, S), f"memory_mask of {described}")
        expected = src_real[:, None, :].expand(B, T, S)
        causal = torch.ones(T, S, dtype=torch.bool).tril()
        mistakes = {
            CAUSAL_IN_CROSS: expected & causal,
            "the source padding is missing: padded source positions must be hidden from the decoder":
                torch.ones(B, T, S, dtype=torch.bool),
            "you masked padded *queries* instead of padded source keys": real[:, :, None].expand(B, T, S),
            "you compared with 0 instead of pad_id": (src_ids != 0)[:, None, :].expand(B, T, S),
            QUERY_ROWS: expected & real[:, :, None],
        }
        _compare_rows(actual, expected, torch.ones_like(real), f"memory_mask of {described}", mistakes)


# ---------------------------------------------------------------------------------------------
# DecoderBlock: float64 oracle with switches that reproduce mistakes.
# ---------------------------------------------------------------------------------------------
def _ln64(x, p, name):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS) * p[f"{name}.weight"] + p[f"{name}.bias"]


def _ff64(x, p):
    hidden = torch.relu(x @ p["feed_forward.linear1.weight"].T + p["feed_forward.linear1.bias"])
    return hidden @ p["feed_forward.linear2.weight"].T + p["feed_forward.linear2.bias"]


def _sub(p, prefix):
    return {key[len(prefix) + 1:]: value for key, value in p.items() if key.startswith(prefix + ".")}


def block_weights(d_model: int, d_ff: int, seed: int, dtype) -> dict:
    """Seeded weights for every parameter of a decoder block (state_dict names), rounded to dtype, as float64."""
    p = {}
    for i, attn in enumerate(("self_attn", "cross_attn")):
        for key, value in mha_weights(d_model, seed + 20 * i, dtype).items():
            p[f"{attn}.{key}"] = value
    shapes = {"feed_forward.linear1.weight": ((d_ff, d_model), 1 / math.sqrt(d_model)), "feed_forward.linear1.bias": ((d_ff,), 0.3),
              "feed_forward.linear2.weight": ((d_model, d_ff), 1 / math.sqrt(d_ff)), "feed_forward.linear2.bias": ((d_model,), 0.3)}
    for j, (key, (shape, scale)) in enumerate(shapes.items()):
        p[key] = randn(*shape, seed=seed + 50 + j, dtype=torch.float64, scale=scale).to(dtype).double()
    for k, norm in enumerate(("norm1", "norm2", "norm3")):
        p[f"{norm}.weight"] = (1.0 + 0.3 * randn(d_model, seed=seed + 60 + 2 * k, dtype=torch.float64)).to(dtype).double()
        p[f"{norm}.bias"] = randn(d_model, seed=seed + 61 + 2 * k, dtype=torch.float64, scale=0.3).to(dtype).double()
    return p


def decoder64(x, memory, p, H, tgt_mask=None, memory_mask=None, variant="correct"):
    """The lecture's post-norm decoder block in float64 (returned in x's dtype); `variant` reproduces a mistake."""
    dtype = x.dtype
    x, memory = x.double(), memory.double()
    T, S = x.shape[1], memory.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    self_mask = causal if tgt_mask is None else causal & tgt_mask
    if variant == "no_causal":
        self_mask = tgt_mask
    elif variant == "tgt_mask_replaces_causal":
        self_mask = causal if tgt_mask is None else tgt_mask
    cross_mask = memory_mask
    if variant == "causal_cross":
        tri = torch.ones(T, S, dtype=torch.bool).tril()
        cross_mask = tri if memory_mask is None else memory_mask & tri
    elif variant == "memory_mask_ignored":
        cross_mask = None
    sa_w, ca_w = _sub(p, "self_attn"), _sub(p, "cross_attn")
    if variant == "self_attn_for_cross":
        ca_w = sa_w
    norms = ("norm1", "norm2", "norm3") if variant != "norm1_everywhere" else ("norm1",) * 3

    def self_attn(h):
        return mha64(h, h, h, sa_w, H, self_mask)

    def cross_attn(h):
        if variant == "cross_is_self":
            return mha64(h, h, h, ca_w, H, cross_mask)
        if variant == "cross_q_from_memory":
            return mha64(memory, h, h, ca_w, H, None)
        if variant == "cross_k_from_x":
            return mha64(h, h, memory, ca_w, H, cross_mask)
        if variant == "cross_v_from_x":
            return mha64(h, memory, h, ca_w, H, cross_mask)
        return mha64(h, memory, memory, ca_w, H, cross_mask)

    sublayers = [self_attn, cross_attn, lambda h: _ff64(h, p)]
    if variant == "ff_before_cross":
        sublayers = [sublayers[0], sublayers[2], sublayers[1]]
    if variant == "no_cross":
        sublayers = [sublayers[0], sublayers[2]]
        norms = ("norm1", "norm3")
    block_input = x
    for i, (f, norm) in enumerate(zip(sublayers, norms)):
        if variant == "cross_from_input" and i == 1:
            x = _ln64(x + f(block_input), p, norm)
        elif variant == "prenorm":
            x = x + f(_ln64(x, p, norm))
        elif variant == "norm_then_add":
            x = x + _ln64(f(x), p, norm)
        elif variant == f"no_residual_{i}" or variant == "no_residual":
            x = _ln64(f(x), p, norm)
        else:
            x = _ln64(x + f(x), p, norm)
    return x.to(dtype)


DECODER_MISTAKES = {
    "no_causal": "self-attention has no causal mask: position t must not see target positions after t "
    "(combine causal_mask(T) with tgt_mask)",
    "tgt_mask_replaces_causal": "when a tgt_mask is given you use it instead of the causal mask; combine them "
    "(causal & tgt_mask): the block is always causal",
    "causal_cross": CAUSAL_IN_CROSS,
    "memory_mask_ignored": "the memory_mask is ignored: pass it to cross attention",
    "prenorm": "you used pre-norm (x + sublayer(norm(x))); the lecture's block is post-norm: norm(x + sublayer(x))",
    "norm_then_add": "you normalised the sublayer output and then added x (x + norm(sublayer(x))); Add & Norm adds "
    "first, then normalises: norm(x + sublayer(x))",
    "no_residual": "the residual connections are missing: each sublayer's input must be added to its output "
    "before the norm",
    "no_residual_0": "the residual around self-attention is missing: norm1(x + self_attn(x, x, x, ...))",
    "no_residual_1": "the residual around cross attention is missing: norm2(x + cross_attn(x, memory, memory, ...))",
    "no_residual_2": "the residual around the feed-forward network is missing: norm3(x + feed_forward(x))",
    "cross_is_self": "the second attention attends over the decoder itself, not over memory: cross attention "
    "takes its keys and values from the encoder output (memory)",
    "self_attn_for_cross": "you used self_attn for the cross attention too; use the separate cross_attn module",
    "no_cross": "the cross-attention sublayer is missing: the decoder never looks at the encoder output",
    "ff_before_cross": "the feed-forward sublayer comes before cross attention; the order is self-attention, "
    "cross attention, feed-forward",
    "norm1_everywhere": "you used norm1 after every sublayer; each sublayer has its own norm (norm1, norm2, norm3)",
    "cross_from_input": "cross attention asks with the block's input x instead of the output of the self-attention "
    "sublayer: x = norm1(x + self_attn(...)) first, then cross_attn(x, memory, memory, ...) with that new x",
    "cross_q_from_memory": "cross attention takes its queries from memory: the decoder asks (queries from x), "
    "the encoder output answers (keys and values from memory)",
    "cross_k_from_x": "cross attention takes its keys from the decoder: keys and values both come from memory",
    "cross_v_from_x": "cross attention takes its values from the decoder: keys and values both come from memory",
}


def _decoder_mistakes(x, memory, p, H, tgt_mask, memory_mask):
    expected = decoder64(x, memory, p, H, tgt_mask, memory_mask)
    found = {}
    for variant, text in DECODER_MISTAKES.items():
        try:
            found[text] = decoder64(x, memory, p, H, tgt_mask, memory_mask, variant)
        except RuntimeError:  # the variant's shapes do not fit this input (T != S)
            continue
    return distinct(found, expected)


def _block(DecoderBlock, d_model, H, d_ff):
    return build_module(DecoderBlock, "DecoderBlock", "attention", "DecoderBlock", d_model, H, d_ff)


def _norm_params(module, owner, name, d_model):
    norm = _getattr(module, name, None)
    weight, bias = _getattr(norm, "weight", None), _getattr(norm, "bias", None)
    if not (_isinstance(norm, nn.Module) and _isinstance(weight, torch.Tensor) and _isinstance(bias, torch.Tensor)
            and tuple(weight.shape) == (d_model,) and tuple(bias.shape) == (d_model,)):
        raise AssertionError(
            f"{owner}.{name} should be a layer norm over d_model={d_model} features with .weight and .bias of shape "
            f"({d_model},) (for example LayerNorm({d_model}) from transformer_reference)."
        )
    return weight, bias


def _load_block(block, p, owner, d_model, d_ff):
    for attn in ("self_attn", "cross_attn"):
        module = _getattr(block, attn, None)
        if not _isinstance(module, nn.Module):
            raise AssertionError(f"{owner}.{attn} should be a MultiHeadAttention({d_model}, num_heads) module.")
        load_mha(module, _sub(p, attn), f"{owner}.{attn}", d_model)
    if _getattr(block, "self_attn") is _getattr(block, "cross_attn"):
        raise AssertionError(f"{owner}.self_attn and {owner}.cross_attn must be two separate MultiHeadAttention modules.")
    ff = _getattr(block, "feed_forward", None)
    if not _isinstance(ff, nn.Module):
        raise AssertionError(f"{owner}.feed_forward should be a FeedForward({d_model}, {d_ff}) module.")
    linear_layer(ff, f"{owner}.feed_forward", "linear1", d_model, d_ff)
    linear_layer(ff, f"{owner}.feed_forward", "linear2", d_ff, d_model)
    norms = [_norm_params(block, owner, name, d_model) for name in ("norm1", "norm2", "norm3")]
    if len({id(w) for w, _ in norms}) != 3:
        raise AssertionError(f"{owner}.norm1, norm2 and norm3 must be three separate layer norms.")
    parts = ("feed_forward.linear1", "feed_forward.linear2", "norm1", "norm2", "norm3")
    load_weights(block, {f"{part}.{kind}": p[f"{part}.{kind}"] for part in parts for kind in ("weight", "bias")})


def _block_setup(DecoderBlock, d_model, H, d_ff, seed, dtype):
    owner = f"DecoderBlock({d_model}, {H}, {d_ff})"
    block = _block(DecoderBlock, d_model, H, d_ff).to(dtype)
    p = block_weights(d_model, d_ff, seed, dtype)
    _load_block(block, p, owner, d_model, d_ff)
    return block, p


def _block_call(DecoderBlock, block, x, memory, tgt_mask=None, memory_mask=None):
    args = [x, memory] + ([tgt_mask, memory_mask] if (tgt_mask is not None or memory_mask is not None) else [])
    saved = [(n, a, _clone(a)) for n, a in zip(("x", "memory", "tgt_mask", "memory_mask"), args) if _isinstance(a, torch.Tensor)]
    with grade_alone(DecoderBlock, {"cross_attention": cross_attention_stand_in}):
        with no_delegation("DecoderBlock", "attention", "DecoderBlock"):
            out = block(*args)
    unchanged(saved, "DecoderBlock.forward")
    return out


def _compare_block(DecoderBlock, block, p, H, x, memory, tgt_mask=None, memory_mask=None, what=""):
    B, T, d_model = x.shape
    S = memory.shape[1]
    described = (f"DecoderBlock(d_model={d_model}, num_heads={H}) in {x.dtype} with B={B}, T={T} target and S={S} "
                 f"source positions" + what)
    try:
        out = _block_call(DecoderBlock, block, x, memory, tgt_mask, memory_mask)
    except (AssertionError, NotImplementedError):
        raise
    except Exception as err:
        text = f"{described} raised {type(err).__name__}: {_str(err)[:200]}"
        # Run it with S = T, where taking queries, keys or values from the wrong sequence runs silently.
        square = randn(B, T, d_model, seed=991, dtype=x.dtype)
        square_mask = None if memory_mask is None else _source_mask(B, T, seed=992)
        try:
            got = _block_call(DecoderBlock, block, x, square, tgt_mask, square_mask)
        except Exception:
            got = None
        if _isinstance(got, torch.Tensor):
            for wrong_text, wrong in _decoder_mistakes(x, square, p, H, tgt_mask, square_mask).items():
                if is_close(got, wrong, rtol=1e-3, atol=1e-4):
                    text += f" With as many source as target positions it runs, and it looks like {wrong_text}."
                    break
        raise AssertionError(text) from None
    expected = decoder64(x, memory, p, H, tgt_mask, memory_mask)
    if _isinstance(out, torch.Tensor) and out.dtype == expected.dtype and is_close(out, expected):
        return
    expect_close(out, expected, described, mistakes=_decoder_mistakes(x, memory, p, H, tgt_mask, memory_mask))


@check
def decoder_block_structure(DecoderBlock):
    """self_attn, cross_attn, feed_forward, norm1..norm3 with the documented shapes; no other parameters."""
    d_model, H, d_ff = 8, 2, 16
    owner = f"DecoderBlock({d_model}, {H}, {d_ff})"
    block = _block(DecoderBlock, d_model, H, d_ff)
    _load_block(block, block_weights(d_model, d_ff, 900, torch.float32), owner, d_model, d_ff)
    count = sum(q.numel() for q in block.parameters())
    expected = 2 * 4 * (d_model * d_model + d_model) + (d_model * d_ff + d_ff + d_ff * d_model + d_model) + 3 * 2 * d_model
    if count != expected:
        raise AssertionError(
            f"{owner} has {count} learnable numbers; two attention modules, the feed-forward network and three "
            f"layer norms have {expected}. The block has no other parameters."
        )


@check
def decoder_block_values(DecoderBlock):
    """Post-norm: norm1(x + self_attn), norm2(x + cross_attn over memory), norm3(x + feed_forward); T != S; float32 and float64."""
    for dtype in DTYPES:
        for i, (B, T, S, d_model, H, d_ff) in enumerate(cases([(3, 4, 6, 8, 2, 16), (2, 5, 3, 12, 4, 24)])):
            block, p = _block_setup(DecoderBlock, d_model, H, d_ff, seed=910 + 100 * i, dtype=dtype)
            x = randn(B, T, d_model, seed=911 + 100 * i, dtype=dtype)
            memory = randn(B, S, d_model, seed=912 + 100 * i, dtype=dtype)
            _compare_block(DecoderBlock, block, p, H, x, memory, what=" and no masks (the block adds the causal mask itself)")


@check
def decoder_block_causal(DecoderBlock):
    """Changing later target positions never changes earlier outputs; every output depends on every source position."""
    B, T, S, d_model, H, d_ff = 2, 5, 6, 8, 2, 16
    block, p = _block_setup(DecoderBlock, d_model, H, d_ff, seed=930, dtype=torch.float64)
    x = randn(B, T, d_model, seed=931, dtype=torch.float64)
    memory = randn(B, S, d_model, seed=932, dtype=torch.float64)
    before = attempt(lambda: _block_call(DecoderBlock, block, x, memory), "DecoderBlock(x, memory)")
    expect_tensor(before, "DecoderBlock(x, memory)", shape=(B, T, d_model))
    for t in (1, 3):
        changed = x.clone()
        changed[:, t:] = randn(B, T - t, d_model, seed=933 + t, dtype=torch.float64, scale=3.0)
        after = _block_call(DecoderBlock, block, changed, memory)
        moved = (after[:, :t] - before[:, :t]).abs().amax().item()
        if moved > 1e-9:
            raise AssertionError(
                f"Changing target positions {t}..{T - 1} changed the outputs at positions 0..{t - 1} (by up to {moved:.3g}). "
                "A decoder position must not see later target positions: the self-attention needs the causal mask "
                "(causal_mask(T), combined with tgt_mask when one is given)."
            )
    changed = memory.clone()
    changed[:, -1] = randn(B, d_model, seed=940, dtype=torch.float64, scale=3.0)
    after = _block_call(DecoderBlock, block, x, changed)
    still = (after[:, 0] - before[:, 0]).abs().amax().item()
    if still < 1e-6:
        raise AssertionError(
            f"Changing the last source position (S-1 = {S - 1}) did not change the output at target position 0. "
            "Every decoder position must look at every (real) source position through cross attention: "
            "cross attention has no causal mask."
        )


@check
def decoder_block_masks(DecoderBlock):
    """tgt_mask combined with the causal mask (not instead of it); memory_mask (B, 1, S) in cross attention only."""
    for dtype in DTYPES:
        for i, (B, T, S, d_model, H, d_ff) in enumerate(cases([(3, 5, 6, 8, 2, 16), (2, 4, 7, 16, 4, 24), (2, 4, 5, 8, 2, 16)])):
            block, p = _block_setup(DecoderBlock, d_model, H, d_ff, seed=950 + 100 * i, dtype=dtype)
            x = randn(B, T, d_model, seed=951 + 100 * i, dtype=dtype)
            memory = randn(B, S, d_model, seed=952 + 100 * i, dtype=dtype)
            lengths = [T, T - 2, T - 1][:B]
            tgt_padding = _lengths_mask(lengths, T, left=True).unsqueeze(1)  # (B, 1, T), left padding
            memory_mask = _source_mask(B, S, seed=953 + 100 * i)  # (B, 1, S)
            # Left padding: query 0 of a padded row would see no key at all; give it its own key so no row is empty.
            tgt_mask = tgt_padding | torch.eye(T, dtype=torch.bool)  # (B, T, T)
            _compare_block(DecoderBlock, block, p, H, x, memory, memory_mask=memory_mask,
                           what=f" and memory_mask of shape {tuple(memory_mask.shape)}")
            _compare_block(DecoderBlock, block, p, H, x, memory, tgt_mask, memory_mask,
                           what=f", tgt_mask of shape {tuple(tgt_mask.shape)} (padding only, not causal) and "
                                f"memory_mask of shape {tuple(memory_mask.shape)}")
