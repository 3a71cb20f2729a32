"""Checks for 03_masking: causal mask, padding mask, and the decoder's combined mask.

The notebook's exercises:

- `causal_mask(seq_len)` (CONTRACT.md): bool `(T, T)`, True where key j <= query i;
- `padding_mask(token_ids, pad_id)` (CONTRACT.md): long `(B, T)` -> bool `(B, 1, T)`, True where the
  *key* is a real token;
- `decoder_self_attention_mask(token_ids, pad_id)`: bool `(B, T, T)`, True where key j <= query i
  and key j is not padding;
- `MaskedSoftmax` (a `torch.autograd.Function`): the softmax over the keys with masked keys at 0, and
  a hand-written backward pass, judged against float64 gradients of `(p * grad_p).sum()` for random
  `grad_p` (the missing `-sum` term, the wrong axis, gradient leaking to masked keys, ... are named).

Masks are compared exactly (they are booleans); each known mistake (diagonal excluded, transposed,
True = blocked, padding on the query axis, ...) is named in the failure message. While the combined
mask is graded, the notebook's own `causal_mask` and `padding_mask` are replaced by oracles, so a
mistake in them costs points only once.
"""

from __future__ import annotations

import contextlib

import torch

from course_check.common import (
    cases,
    _isinstance,
    call,
    call_backward,
    check,
    expect_close,
    expect_tensor,
    grade_alone,
    pure,
    randn,
    refuse_delegation,
    seeded,
)

_int = int


# The notebook's own earlier helpers each exercise is graded without (`grade_alone` swaps in
# correct ones), so a mistake in a helper costs points only in the helper's own tests.
STAND_INS = {"decoder_self_attention_mask": ("causal_mask", "padding_mask")}


# ---------------------------------------------------------------------------------------------
# Oracles
# ---------------------------------------------------------------------------------------------
def _causal(T: int) -> torch.Tensor:
    i = torch.arange(T)[:, None]  # query index
    j = torch.arange(T)[None, :]  # key index
    return j <= i  # (T, T)


def _padding(token_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    return (token_ids != pad_id)[:, None, :]  # (B, 1, T)


def causal_mask_oracle(seq_len):
    """Stand-in for the notebook's causal_mask while the combined mask is graded."""
    return _causal(seq_len)


def padding_mask_oracle(token_ids, pad_id):
    """Stand-in for the notebook's padding_mask while the combined mask is graded."""
    return _padding(token_ids, pad_id)


def _batch(lengths: list[int], T: int, pad_id: int, seed: int, vocab_size: int = 20) -> torch.Tensor:
    """Right-padded ids (B, T): row b holds lengths[b] real tokens (never equal to pad_id), then pad_id."""
    ids = torch.randint(0, vocab_size - 1, (len(lengths), T), generator=seeded(seed))
    ids = ids + (ids >= pad_id).long()  # skip pad_id: every real token differs from it
    positions = torch.arange(T)[None, :]
    return torch.where(positions < torch.tensor(lengths)[:, None], ids, torch.full_like(ids, pad_id))


# ---------------------------------------------------------------------------------------------
# causal_mask
# ---------------------------------------------------------------------------------------------
def _causal_mistakes(T: int) -> dict:
    full = torch.ones(T, T, dtype=torch.bool)
    return {
        "the diagonal is excluded (j < i); a position may attend to itself, so keep j <= i (torch.tril without an offset)":
            torch.tril(full, diagonal=-1),
        "the mask is transposed (True where j >= i, the upper triangle): row i is query i, and it may see keys j <= i "
        "(the lower triangle, torch.tril)": torch.triu(full),
        "the convention is reversed (True marks the future keys to block); True means \"may attend\", so mark j <= i":
            torch.triu(full, diagonal=1),
        "every key is allowed (no masking)": full,
    }


@check
def causal_values(causal_mask):
    """True exactly where key j <= query i, for seq_len 1 to 9."""
    run = pure(causal_mask, "causal", "causal_mask", ("seq_len",))
    for T in (2, 3, 5, 9, 1):
        described = f"causal_mask({T})"
        mask = call(run, described, T, hint="Build a (T, T) boolean tensor, for example torch.tril of a tensor of ones.")
        expect_tensor(mask, described, shape=(T, T))
        if mask.dtype != torch.bool:
            raise AssertionError(
                f"{described} has dtype {mask.dtype}; a mask must be boolean (torch.bool), True = may attend. "
                "Create it with dtype=torch.bool, or compare indices (j <= i), which gives booleans."
            )
        expected = _causal(T)
        if not torch.equal(mask, expected):
            row = next(i for i in range(T) if not torch.equal(mask[i], expected[i]))
            expect_close(
                mask, expected, described, mistakes=_causal_mistakes(T),
                hint=f"Row {row} (query {row}) should allow keys 0..{row} only: {expected[row].tolist()}, "
                     f"yours is {mask[row].tolist()}.",
            )


@check
def causal_shape_dtype(causal_mask):
    """A bool tensor of shape (seq_len, seq_len) for several lengths."""
    run = pure(causal_mask, "causal", "causal_mask", ("seq_len",))
    for T in (1, 4, 7, 16):
        mask = call(run, f"causal_mask({T})", T)
        expect_tensor(mask, f"causal_mask({T})", shape=(T, T), dtype=torch.bool)


# ---------------------------------------------------------------------------------------------
# padding_mask
# ---------------------------------------------------------------------------------------------
_PADDING_CASES = [
    # (lengths, T, pad_id)
    ([3, 5, 1], 5, 0),
    ([4, 2], 6, 0),
    ([6, 6, 3, 2], 6, 0),
    ([2, 4, 4], 4, 7),
    ([1, 5], 5, 3),
]


def _padding_shape_message(mask, token_ids, described: str) -> str | None:
    B, T = token_ids.shape
    if not _isinstance(mask, torch.Tensor):
        return None
    shape = tuple(mask.shape)
    if shape == (B, T, 1) and T != 1:
        return (
            f"{described} has shape {shape}: the padding sits on the query axis. The mask must be (B, 1, T), so that "
            "the singleton axis broadcasts over the queries and the T entries block keys: "
            "(token_ids != pad_id).unsqueeze(1)."
        )
    if shape == (B, T):
        return (
            f"{described} has shape {shape}; add the query axis of size 1 in the middle, (B, 1, T), so that the mask "
            "broadcasts against (B, T_q, T_k) scores key by key (.unsqueeze(1) or [:, None, :])."
        )
    if shape == (B, T, T):
        return (
            f"{described} has shape {shape}; the padding mask only says which keys are real, so it has a single "
            "query row, (B, 1, T), which broadcasts over every query."
        )
    return None


def _padding_mistakes(token_ids: torch.Tensor, pad_id: int) -> dict:
    out = {
        "the convention is reversed (True marks the padding); True means \"may attend\", so mark the real tokens "
        "(token_ids != pad_id)": (token_ids == pad_id)[:, None, :],
    }
    if pad_id != 0:
        out[f"you compared with 0 instead of the given pad_id={pad_id}"] = (token_ids != 0)[:, None, :]
    return out


def _check_padding(padding_mask, cases, seed: int) -> None:
    run = pure(padding_mask, "none", "padding_mask", ("token_ids",))
    for n, (lengths, T, pad_id) in enumerate(cases):
        token_ids = _batch(lengths, T, pad_id, seed=seed + n)
        described = f"padding_mask(token_ids={token_ids.tolist()}, pad_id={pad_id})"
        mask = call(run, described, token_ids, pad_id)
        wrong_shape = _padding_shape_message(mask, token_ids, described)
        if wrong_shape:
            raise AssertionError(wrong_shape)
        expect_tensor(mask, described, shape=(len(lengths), 1, T))
        if mask.dtype != torch.bool:
            raise AssertionError(f"{described} has dtype {mask.dtype}; a mask must be boolean (torch.bool), True = may attend.")
        expect_close(mask, _padding(token_ids, pad_id), described, mistakes=_padding_mistakes(token_ids, pad_id))


@check
def padding_values(padding_mask):
    """True where the key is a real token, False on padding, for pad_id 0 and other pad ids."""
    _check_padding(padding_mask, _PADDING_CASES, seed=700)


@check
def padding_shape(padding_mask):
    """Shape (B, 1, T) (keys on the last axis, a singleton query axis), bool, for several batch sizes."""
    run = pure(padding_mask, "none", "padding_mask", ("token_ids",))
    for n, (lengths, T, pad_id) in enumerate(cases([([2, 3, 1], 3, 0), ([5], 5, 0), ([1, 4, 2, 3, 4], 4, 2), ([3, 1], 7, 0)])):
        token_ids = _batch(lengths, T, pad_id, seed=720 + n)
        described = f"padding_mask(token_ids of shape {tuple(token_ids.shape)}, pad_id={pad_id})"
        mask = call(run, described, token_ids, pad_id)
        wrong_shape = _padding_shape_message(mask, token_ids, described)
        if wrong_shape:
            raise AssertionError(wrong_shape)
        expect_tensor(mask, described, shape=(len(lengths), 1, T), dtype=torch.bool)
    # It must broadcast against scores (B, T_q, T_k): a different number of queries is fine.
    token_ids = _batch([2, 4], 4, 0, seed=730)
    mask = call(run, "padding_mask(token_ids of shape (2, 4), pad_id=0)", token_ids, 0)
    try:
        torch.broadcast_shapes(tuple(mask.shape), (2, 3, 4))
    except RuntimeError:
        raise AssertionError(
            f"padding_mask(token_ids of shape (2, 4), 0) has shape {tuple(mask.shape)}, which does not broadcast "
            "against attention scores of shape (B, T_q, T_k) = (2, 3, 4)."
        ) from None


# ---------------------------------------------------------------------------------------------
# decoder_self_attention_mask
# ---------------------------------------------------------------------------------------------
def _combined(token_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    return _causal(token_ids.shape[1])[None] & _padding(token_ids, pad_id)  # (B, T, T)


def _combined_mistakes(token_ids: torch.Tensor, pad_id: int) -> dict:
    causal = _causal(token_ids.shape[1])[None]
    keys = _padding(token_ids, pad_id)  # (B, 1, T)
    queries = keys.transpose(1, 2)  # (B, T, 1)
    B, T = token_ids.shape
    return {
        "you combined the masks with OR; a key must pass both tests (not in the future AND not padding), so use &":
            (causal | keys).expand(B, T, T),
        "the padding was not applied (this is the causal mask alone)": causal.expand(B, T, T),
        "the causal part is missing (this is the padding mask alone)": keys.expand(B, T, T),
        "the padding was applied to the queries instead of the keys: column j (key j) must be False when token j is "
        "padding": (causal & queries).expand(B, T, T),
        "the padding blocks the padded queries' rows as well as the padded keys; only keys are masked (padded queries' "
        "rows still need an allowed key, or their softmax has nothing to normalise)": causal & keys & queries,
        "the causal part is transposed (j >= i): query i may see keys j <= i": (causal.transpose(1, 2) & keys).expand(B, T, T),
    }


@contextlib.contextmanager
def _combined_runner(decoder_self_attention_mask):
    with grade_alone(decoder_self_attention_mask, {"causal_mask": causal_mask_oracle, "padding_mask": padding_mask_oracle}):
        yield pure(decoder_self_attention_mask, "causal", None, ("token_ids",))


@check
def combined_values(decoder_self_attention_mask):
    """True where key j <= query i AND key j is not padding; shape (B, T, T), bool, for several pad ids."""
    with _combined_runner(decoder_self_attention_mask) as run:
        for n, (lengths, T, pad_id) in enumerate(_PADDING_CASES + [([1], 1, 0), ([7, 2, 5], 7, 1)]):
            token_ids = _batch(lengths, T, pad_id, seed=750 + n)
            described = f"decoder_self_attention_mask(token_ids={token_ids.tolist()}, pad_id={pad_id})"
            mask = call(run, described, token_ids, pad_id, hint="Combine causal_mask(T) and padding_mask(token_ids, pad_id) with &.")
            B = len(lengths)
            if _isinstance(mask, torch.Tensor) and tuple(mask.shape) == (B, 1, T, T):
                raise AssertionError(
                    f"{described} has shape {tuple(mask.shape)}; it should be (B, T, T) = {(B, T, T)}. "
                    "Broadcasting (T, T) with (B, 1, T) already gives (B, T, T): do not add another axis."
                )
            expect_tensor(mask, described, shape=(B, T, T))
            if mask.dtype != torch.bool:
                raise AssertionError(f"{described} has dtype {mask.dtype}; a mask must be boolean (torch.bool), True = may attend.")
            expect_close(mask, _combined(token_ids, pad_id), described, mistakes=_combined_mistakes(token_ids, pad_id))


@check
def combined_in_attention(decoder_self_attention_mask):
    """Used in attention, the mask keeps every real query's output independent of later tokens and of padding."""
    from transformer_reference import scaled_dot_product_attention

    with _combined_runner(decoder_self_attention_mask) as run:
        token_ids = _batch([3, 6, 4], 6, 0, seed=790)
        mask = call(run, "decoder_self_attention_mask(token_ids of shape (3, 6), pad_id=0)", token_ids, 0)
        expect_tensor(mask, "decoder_self_attention_mask(token_ids of shape (3, 6), pad_id=0)", shape=(3, 6, 6), dtype=torch.bool)
        x = torch.randn(3, 6, 8, generator=seeded(791), dtype=torch.float64)
        out, _ = scaled_dot_product_attention(x, x, x, mask)
        changed = x.clone()
        changed[:, -1] = torch.randn(3, 8, generator=seeded(792), dtype=torch.float64)  # the last token, or padding
        out_changed, _ = scaled_dot_product_attention(changed, changed, changed, mask)
        real = token_ids != 0
        for b in range(3):
            for i in range(5):
                if real[b, i] and not torch.allclose(out[b, i], out_changed[b, i], rtol=1e-9, atol=1e-12):
                    raise AssertionError(
                        f"With your mask, changing the last token (or padding) of sequence {b} changed the attention "
                        f"output at position {i}, which is an earlier, real token: that position must only see keys "
                        f"0..{i} that are not padding. Your mask's row {i} is {mask[b, i].tolist()}."
                    )


# ---------------------------------------------------------------------------------------------
# MaskedSoftmax: a torch.autograd.Function with a hand-written backward pass
# ---------------------------------------------------------------------------------------------
# Cases: (scores shape, which mask). Every row keeps at least one allowed key (fully masked rows
# are not specified). Right-padded batches whose padded queries still see the real keys.
_MSM_CASES = [
    ((5, 5), "causal"),
    ((3, 6, 6), "causal & padding"),
    ((2, 4, 7), "padding"),
    ((4, 4), "none"),
    ((2, 2, 5, 5), "causal"),
    ((3, 5, 5), "padding"),
]


def _msm_mask(shape: tuple, kind: str, seed: int) -> torch.Tensor:
    T_q, T_k = shape[-2], shape[-1]
    if kind == "none":
        return torch.ones(T_q, T_k, dtype=torch.bool)
    if kind == "causal":
        return _causal(T_k)
    B = shape[0]
    lengths = torch.randint(1, T_k + 1, (B,), generator=seeded(seed)).tolist()
    lengths[0] = max(1, T_k - 2)  # at least one batch element with padding
    keys = _padding(_batch(lengths, T_k, 0, seed=seed + 1), 0)  # (B, 1, T_k)
    return keys if kind == "padding" else _causal(T_k) & keys


def _msm_oracle(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    s = scores.double().masked_fill(~mask, float("-inf"))
    return torch.softmax(s, dim=-1)


def _msm_run(MaskedSoftmax, shape: tuple, kind: str, seed: int, dtype=torch.float64):
    """One forward and one backward pass of (p * grad_p).sum() where the student's class lives. What
    comes back are values: p, the gradient of the scores, and the scores themselves (changed in place?)."""
    scores = randn(*shape, seed=seed, dtype=dtype, scale=2.0)
    mask = _msm_mask(shape, kind, seed + 7)
    grad_p = randn(*shape, seed=seed + 3, dtype=dtype)
    described = f"MaskedSoftmax.apply(scores of shape {shape}, {kind} mask of shape {tuple(mask.shape)})"
    x = scores.clone().requires_grad_(True)
    p = call_backward(lambda *args: MaskedSoftmax.apply(*args), described, x, mask, weights=grad_p,
                      hint="forward(ctx, scores, mask) returns the probabilities; backward(ctx, grad_p) returns "
                           "(grad_scores, None): one gradient per input of forward, None for the mask.")
    if not torch.equal(x.detach(), scores):
        raise AssertionError(
            f"{described} changed its input `scores` in place (for example with `.masked_fill_()` or `-=`). "
            "Compute new tensors and leave the caller's tensors untouched."
        )
    report = {"p": p.detach() if _isinstance(p, torch.Tensor) else p,
              "no_graph": not (_isinstance(p, torch.Tensor) and p.requires_grad),
              "grad": None if x.grad is None else x.grad.detach()}
    return scores, mask, grad_p, report, described


def _msm_gradient_mistakes(scores, mask, grad_p) -> dict:
    p = _msm_oracle(scores, mask)
    g = grad_p.double()
    q = torch.softmax(scores.double(), dim=-1)  # the softmax without the mask
    row = (g * p).sum(dim=-1, keepdim=True)
    return {
        "the -p_i * sum_j(g_j p_j) term is missing: you returned p * grad_p, the diagonal of the Jacobian only. "
        "The derivative of p_i with respect to score j is p_i (delta_ij - p_j), so grad_scores = p * (grad_p - "
        "sum_j(grad_p * p)) over the keys": p * g,
        "the sum runs over the wrong axis: sum grad_p * p over the keys (the last axis, dim=-1, keepdim=True), the "
        "axis the softmax normalised": p * (g - (g * p).sum(dim=-2, keepdim=True)),
        "masked keys receive gradient: your backward uses the softmax of the scores without the mask; use the "
        "probabilities of the forward pass (save them with ctx.save_for_backward), which are 0 at masked keys":
            q * (g - (g * q).sum(dim=-1, keepdim=True)),
        "the factor p_i is missing: grad_scores = p * (grad_p - sum_j(grad_p * p)); without it masked keys get "
        "gradient too": g - row,
        "the sign is flipped: grad_scores = p * (grad_p - sum_j(grad_p * p))": -p * (g - row),
        "the sum forgets the weights p_j: it is sum_j(grad_p_j * p_j), not sum_j(grad_p_j)":
            p * (g - g.sum(dim=-1, keepdim=True)),
    }


@check
def masked_softmax_forward(MaskedSoftmax):
    """MaskedSoftmax.apply(scores, mask): the softmax over the keys, exactly 0 at masked keys; causal, padding
    and combined masks, float32 and float64."""
    refuse_delegation(MaskedSoftmax, "backward")
    for n, (shape, kind) in enumerate(cases(_MSM_CASES)):
        for dtype in (torch.float64, torch.float32):
            scores, mask, _, report, described = _msm_run(MaskedSoftmax, shape, kind, seed=900 + 10 * n, dtype=dtype)
            p = report["p"]
            expect_tensor(p, described, shape=shape, dtype=dtype)
            expected = _msm_oracle(scores, mask).to(dtype)
            inverted = ~mask | ~(~mask).any(dim=-1, keepdim=True)  # rows left without a key keep them all
            mistakes = {
                "the mask was ignored: masked keys must get probability 0 (fill their scores with -inf before the "
                "softmax)": torch.softmax(scores.double(), dim=-1).to(dtype),
                "the mask is inverted: True means \"may attend\", so hide the keys where the mask is False (~mask)":
                    _msm_oracle(scores, inverted).to(dtype),
                "the softmax runs over the queries (dim=-2); the probabilities of one query sum to 1 over the keys "
                "(dim=-1)": torch.softmax(scores.double().masked_fill(~mask, float("-inf")), dim=-2).nan_to_num().to(dtype),
            }
            expect_close(p, expected, described, mistakes=mistakes if kind != "none" else {})


@check
def masked_softmax_backward(MaskedSoftmax):
    """backward(ctx, grad_p) returns (grad_scores, None) with grad_scores = p * (grad_p - sum_k(grad_p * p)),
    compared with float64 gradients for random grad_p; causal, padding and combined masks."""
    refuse_delegation(MaskedSoftmax, "backward")
    for n, (shape, kind) in enumerate(cases(_MSM_CASES)):
        for dtype in (torch.float64, torch.float32):
            scores, mask, grad_p, report, described = _msm_run(MaskedSoftmax, shape, kind, seed=950 + 10 * n, dtype=dtype)
            if report["no_graph"]:
                raise AssertionError(
                    f"The result of {described} has no gradient: call it as MaskedSoftmax.apply(scores, mask) and "
                    "return a tensor from forward (not a .detach()ed one or a NumPy array)."
                )
            grad = report["grad"]
            what = f"the gradient of (p * grad_p).sum() with respect to the scores, p = {described}"
            if grad is None:
                raise AssertionError(f"{what} is None: backward must return the gradient of the scores first, then None.")
            expect_tensor(grad, what, shape=shape, dtype=dtype)
            p = _msm_oracle(scores, mask)
            expected = p * (grad_p.double() - (grad_p.double() * p).sum(dim=-1, keepdim=True))
            mistakes = {text: wrong.to(dtype) for text, wrong in _msm_gradient_mistakes(scores, mask, grad_p).items()}
            expect_close(grad, expected.to(dtype), what, mistakes=mistakes)


@check
def masked_softmax_masked_gradient(MaskedSoftmax):
    """No gradient reaches a masked key: grad_scores is exactly 0 wherever the mask is False."""
    refuse_delegation(MaskedSoftmax, "backward")
    for n, (shape, kind) in enumerate(cases([c for c in _MSM_CASES if c[1] != "none"])):
        scores, mask, grad_p, report, described = _msm_run(MaskedSoftmax, shape, kind, seed=990 + 10 * n)
        grad = report["grad"]
        if report["no_graph"] or grad is None:
            raise AssertionError(f"{described} gives no gradient for the scores (see the test of the backward pass).")
        expect_tensor(grad, "grad_scores", shape=shape)
        leaked = (grad.abs() * (~mask).expand(shape)).amax().item()
        if leaked > 0:
            raise AssertionError(
                f"For {described}, masked keys received gradient (largest {leaked:.3g}). A masked key had probability "
                "0 and did not influence the output, so its score's gradient must be exactly 0: compute the "
                "gradient from the saved probabilities p (0 at masked keys), p * (grad_p - sum(grad_p * p))."
            )
