"""Checks for 08_capstone: assembling the encoder-decoder, the training step, generation.

Nothing here depends on training randomness. Models are tiny and untrained, built under fixed
seeds, and either carry the reference's weights (copied in) or are only tested for properties
that hold for any weights:

- `Seq2SeqTransformer`: shapes; with the reference `EncoderDecoder`'s weights loaded, the same
  logits at every real target position; causality by perturbing later target tokens; padding
  of the source changes nothing; every parameter receives a gradient.
- `train_step`: the returned loss and the parameters after one SGD step equal a reference
  step computed here; padding is ignored (also for a pad id other than 0); repeated steps lower
  the loss; the decoder-only form `src=None`.
- `generate`: greedy rollout equals an argmax rollout computed here; lengths; only the last
  position's logits matter; the context window; the same seeded generator gives the same
  output; and the frequencies of many draws match softmax(logits / T) by a chi-square test,
  whatever sampling method the student uses.
"""

from __future__ import annotations

import contextlib
import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from course_check.common import (
    cases,
    in_kernel,
    randn,
    DelegationError,
    _getattr,
    _isinstance,
    _issubclass,
    _local,
    call,
    call_backward,
    check,
    distinct,
    expect_close,
    expect_tensor,
    guarded,
    is_close,
    load_weights,
    no_delegation,
    probes,
    refuse_delegation,
    seeded,
)
import transformer_reference.training  # noqa: F401  (its train_step and generate are the forbidden references)
from transformer_reference.attention import causal_mask, padding_mask
from transformer_reference.models import DecoderOnlyLM, EncoderDecoder

_float = float


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _seeded_global(seed: int):
    """Run with the global RNG seeded (student initialisation is then reproducible), restoring it after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + probes().seed_offset)
        yield


# Small sizes: every check runs in well under a second.
V_SRC, V_TGT, D_MODEL, HEADS, D_FF, LAYERS, MAX_LEN = 11, 13, 16, 2, 32, 2, 24


def _reference_seq2seq(seed: int, pad_id: int = 0, dtype=torch.float32) -> EncoderDecoder:
    with _seeded_global(seed):
        model = EncoderDecoder(V_SRC, V_TGT, d_model=D_MODEL, num_heads=HEADS, d_ff=D_FF, num_layers=LAYERS,
                               max_len=MAX_LEN, pad_id=pad_id)
    return model.to(dtype).eval()


def _reference_lm(seed: int, vocab_size: int = 13, dtype=torch.float32, max_len: int = 32) -> DecoderOnlyLM:
    with _seeded_global(seed):
        model = DecoderOnlyLM(vocab_size, d_model=D_MODEL, num_heads=HEADS, d_ff=D_FF, num_layers=LAYERS, max_len=max_len)
    return model.to(dtype).eval()


def _padded_batch(lengths: list[int], vocab_size: int, seed: int, pad_id: int = 0, extra: int = 0) -> torch.Tensor:
    """Rows of random non-pad ids of the given lengths, right-padded (plus `extra` padding columns)."""
    g = seeded(seed)
    width = max(lengths) + extra
    batch = torch.full((len(lengths), width), pad_id, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids = torch.randint(0, vocab_size - 1, (n,), generator=g)
        ids = ids + (ids >= pad_id).long()  # skip pad_id
        batch[b, :n] = ids
    return batch


# ---------------------------------------------------------------------------------------------
# Seq2SeqTransformer
# ---------------------------------------------------------------------------------------------
_SEQ2SEQ = "Seq2SeqTransformer"


def _refuse_reference_model(cls) -> None:
    if _isinstance(cls, type) and _issubclass(cls, EncoderDecoder):
        raise DelegationError(
            f"`{_SEQ2SEQ}` is (or inherits from) the course's reference transformer_reference.EncoderDecoder, "
            "which does this exercise for you, so the exercise scores 0. Assemble the model from the blocks yourself."
        )
    refuse_delegation(cls, "none", "EncoderDecoder")


def _guard_model():
    return no_delegation(_SEQ2SEQ, "none", "EncoderDecoder")


def _build_seq2seq(cls, seed: int, pad_id: int = 0, dtype=torch.float32, **sizes):
    _refuse_reference_model(cls)
    kwargs = dict(d_model=D_MODEL, num_heads=HEADS, d_ff=D_FF, num_layers=LAYERS, max_len=MAX_LEN, pad_id=pad_id)
    kwargs.update(sizes)
    src_v, tgt_v = kwargs.pop("src_vocab_size", V_SRC), kwargs.pop("tgt_vocab_size", V_TGT)
    described = f"{_SEQ2SEQ}({src_v}, {tgt_v}, " + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
    with _seeded_global(seed), _guard_model():
        model = call(cls, described, src_v, tgt_v, **kwargs)
    if not _isinstance(model, nn.Module):
        raise AssertionError(f"{described} should create a torch.nn.Module, but it made a {type(model).__name__}.")
    return model.to(dtype), described


def _forward(model, described: str, src, tgt):
    with _guard_model():
        return call(model, f"{described}(src of shape {tuple(src.shape)}, tgt of shape {tuple(tgt.shape)})", src, tgt)


def _load_reference_weights(model, reference: EncoderDecoder, described: str) -> None:
    """Copy the reference's parameters into the student's model by name (extra buffers are fine)."""
    ours = dict(reference.named_parameters(remove_duplicate=False))  # a tied weight appears under both names
    theirs = dict(model.named_parameters(remove_duplicate=False))
    missing = sorted(set(ours) - set(theirs))
    unexpected = sorted(set(theirs) - set(ours))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {missing[:4]}{' ...' if len(missing) > 4 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:4]}{' ...' if len(unexpected) > 4 else ''}")
        raise AssertionError(
            f"The tests copy known weights into your model by name, but {described} has different parameters: "
            + "; ".join(parts) + ". Use the attribute names of the docstring (src_embed, tgt_embed, positions, "
            "encoder, decoder, output) and only the library's blocks."
        )
    for name, value in theirs.items():
        if tuple(value.shape) != tuple(ours[name].shape):
            raise AssertionError(
                f"{described}: parameter {name} has shape {tuple(value.shape)}, but it should have shape "
                f"{tuple(ours[name].shape)}. Check which vocabulary size and width each part is built with."
            )
    load_weights(model, {name: value.detach() for name, value in ours.items()})


def _manual_seq2seq(ref: EncoderDecoder, src, tgt, *, causal=True, enc_src_mask=True, cross_src_mask=True,
                    positions=True, interleaved=False, memory_from_first=False, probabilities=False, mask_pad=None):
    """The reference forward pass with one thing changed: the outputs of common mistakes.

    `causal`: True (j <= i), False (no causal mask), "strict" (j < i) or "transposed" (j >= i).
    """
    pad = ref.pad_id if mask_pad is None else mask_pad
    with torch.no_grad():
        src_mask = padding_mask(src, pad)
        T = tgt.shape[1]
        future = {True: causal_mask(T), False: torch.ones(T, T, dtype=torch.bool),
                  "strict": torch.ones(T, T, dtype=torch.bool).tril(-1), "transposed": causal_mask(T).T}[causal]
        tgt_mask = future if causal == "transposed" else padding_mask(tgt, pad) & future
        x = ref.src_embed(src)
        y = ref.tgt_embed(tgt)
        if positions:
            x, y = ref.positions(x), ref.positions(y)
        memories = []
        for block in ref.encoder:
            x = block(x, src_mask if enc_src_mask else None)
            memories.append(x)
        for i, block in enumerate(ref.decoder):
            memory = memories[i] if interleaved else memories[0] if memory_from_first else memories[-1]
            y = block(y, memory, tgt_mask, src_mask if cross_src_mask else None)
        logits = ref.output(y)
        return torch.softmax(logits, dim=-1) if probabilities else logits


def _seq2seq_mistakes(ref, src, tgt) -> dict:
    return {
        "the decoder's self-attention has no causal mask (each position sees later target tokens)":
            _manual_seq2seq(ref, src, tgt, causal=False),
        "your causal mask is transposed: it lets position i see positions j >= i (the future) instead of j <= i":
            _manual_seq2seq(ref, src, tgt, causal="transposed"),
        "your causal mask hides the diagonal too: position i may see j <= i, itself included":
            _manual_seq2seq(ref, src, tgt, causal="strict"),
        "the encoder's self-attention does not mask the source padding": _manual_seq2seq(ref, src, tgt, enc_src_mask=False),
        "the cross-attention does not mask the source padding (pass the source padding mask as memory_mask)":
            _manual_seq2seq(ref, src, tgt, cross_src_mask=False),
        "the positional encoding is missing": _manual_seq2seq(ref, src, tgt, positions=False),
        "decoder block i reads the output of encoder block i; every decoder block should read the final "
        "encoder output (the memory)": _manual_seq2seq(ref, src, tgt, interleaved=True),
        "the decoder reads the output of the first encoder block instead of the last":
            _manual_seq2seq(ref, src, tgt, memory_from_first=True),
        "forward returns probabilities (a softmax) instead of logits": _manual_seq2seq(ref, src, tgt, probabilities=True),
        "your masks treat id 0 as padding instead of the model's pad_id": _manual_seq2seq(ref, src, tgt, mask_pad=0),
    }


def _real_positions(logits: torch.Tensor, tgt: torch.Tensor, pad_id: int) -> torch.Tensor:
    return logits[tgt != pad_id]  # (N, V): the target positions the loss scores


@check
def seq2seq_shapes(Seq2SeqTransformer):
    """encode, decode and forward give (B, S, d_model), (B, T, V_tgt), (B, T, V_tgt) for several sizes and dtypes."""
    for seed, (B, S, T, sizes) in enumerate(cases([
        (2, 7, 5, {}),
        (3, 4, 9, {"d_model": 24, "num_heads": 3, "d_ff": 40, "num_layers": 1}),
        (1, 10, 1, {"src_vocab_size": 17, "tgt_vocab_size": 6, "num_layers": 3}),
    ])):
        for dtype in (torch.float32, torch.float64):
            model, described = _build_seq2seq(Seq2SeqTransformer, 1000 + seed, dtype=dtype, **sizes)
            d_model = sizes.get("d_model", D_MODEL)
            v_src, v_tgt = sizes.get("src_vocab_size", V_SRC), sizes.get("tgt_vocab_size", V_TGT)
            src = _padded_batch([S] + [max(1, S - 2)] * (B - 1), v_src, seed=1010 + seed)
            tgt = _padded_batch([T] * B, v_tgt, seed=1020 + seed)
            with _guard_model():
                memory = call(model.encode, f"{described}.encode(src of shape {tuple(src.shape)})", src)
                expect_tensor(memory, f"{described}.encode(src of shape {tuple(src.shape)}) (the memory)",
                              shape=(B, S, d_model), dtype=dtype)
                logits = call(model.decode, f"{described}.decode(tgt, memory, src)", tgt, memory, src)
                expect_tensor(logits, f"{described}.decode(tgt of shape {tuple(tgt.shape)}, memory, src)",
                              shape=(B, T, v_tgt), dtype=dtype)
            logits = _forward(model, described, src, tgt)
            expect_tensor(logits, f"{described}(src of shape {tuple(src.shape)}, tgt of shape {tuple(tgt.shape)}) "
                          "(the logits)", shape=(B, T, v_tgt), dtype=dtype)
            if not torch.isfinite(logits).all():
                raise AssertionError(f"{described}: the logits contain NaN or infinite values.")
    model, described = _build_seq2seq(Seq2SeqTransformer, 1030)
    out = _getattr(model, "output", None)
    embed = _getattr(model, "tgt_embed", None)
    if out is None or embed is None or _getattr(out, "weight", None) is not _getattr(embed, "weight", 0):
        raise AssertionError(
            f"{described}.output.weight should be the target embedding's own Parameter (weight tying, notebook 07): "
            "OutputProjection(d_model, tgt_vocab_size, tied_weight=self.tgt_embed.weight)."
        )


@check
def seq2seq_values(Seq2SeqTransformer):
    """With the reference's weights copied in, the logits equal the reference EncoderDecoder's at every real target position."""
    cases = [
        ([6, 3, 5], [4, 6, 2], 0),  # ragged source and target, padded
        ([5, 5], [3, 3], 0),  # no padding at all
        ([4, 2, 6], [5, 3, 4], 2),  # a pad id other than 0
    ]
    for i, (src_lengths, tgt_lengths, pad_id) in enumerate(cases):
        for dtype in (torch.float32, torch.float64):
            ref = _reference_seq2seq(1100 + i, pad_id=pad_id, dtype=dtype)
            model, described = _build_seq2seq(Seq2SeqTransformer, 1110 + i, pad_id=pad_id, dtype=dtype)
            _load_reference_weights(model, ref, described)
            model.eval()
            src = _padded_batch(src_lengths, V_SRC, seed=1120 + i, pad_id=pad_id)
            tgt = _padded_batch(tgt_lengths, V_TGT, seed=1130 + i, pad_id=pad_id)
            with torch.no_grad():
                expected = ref(src, tgt)
                logits = _forward(model, described, src, tgt)
            expect_tensor(logits, f"{described}(src, tgt)", shape=expected.shape, dtype=dtype)
            mistakes = {text: _real_positions(wrong, tgt, pad_id) for text, wrong in _seq2seq_mistakes(ref, src, tgt).items()}
            want = _real_positions(expected, tgt, pad_id)
            expect_close(
                _real_positions(logits, tgt, pad_id), want,
                f"With the reference weights copied in ({dtype}, source lengths {src_lengths}, target lengths "
                f"{tgt_lengths}, pad_id={pad_id}), the logits at the real target positions",
                mistakes=distinct(mistakes, want),
                hint="The model is: scaled embedding + positions -> encoder blocks (source padding mask) -> memory; "
                "target embedding + positions -> decoder blocks (causal mask for self-attention, source padding "
                "mask for cross-attention to the memory) -> output projection.",
            )


@check
def seq2seq_causal(Seq2SeqTransformer):
    """Changing target tokens at positions >= j leaves the logits at positions < j unchanged, and position j reads token j."""
    model, described = _build_seq2seq(Seq2SeqTransformer, 1200, dtype=torch.float64)
    model.eval()
    src = _padded_batch([6, 4], V_SRC, seed=1201)
    tgt = _padded_batch([7, 7], V_TGT, seed=1202)
    with torch.no_grad():
        base = _forward(model, described, src, tgt)
        expect_tensor(base, f"{described}(src, tgt)", shape=(2, 7, V_TGT))
        for j in range(1, 7):
            changed = tgt.clone()
            changed[:, j:] = (tgt[:, j:] % (V_TGT - 1)) + 1  # a different non-pad token at every later position
            out = _forward(model, described, src, changed)
            if not is_close(out[:, :j], base[:, :j]):
                raise AssertionError(
                    f"Information flows backwards in your decoder: changing the target tokens at positions {j}.."
                    f"{tgt.shape[1] - 1} changed the logits at positions before {j}. Position t may only see target "
                    "tokens 0..t: give the decoder's self-attention the causal mask (combined with the target padding mask)."
                )
            if is_close(out[:, j], base[:, j]):
                raise AssertionError(
                    f"Changing the target token at position {j} did not change the logits at position {j}: the decoder "
                    "should read the target tokens (embedding + positions -> decoder blocks)."
                )


@check
def seq2seq_source(Seq2SeqTransformer):
    """Extra source padding changes nothing (also for pad id 3), and the logits depend on the real source tokens."""
    for pad_id, seed in cases([(0, 1300), (3, 1310)]):
        model, described = _build_seq2seq(Seq2SeqTransformer, seed, pad_id=pad_id, dtype=torch.float64)
        model.eval()
        src = _padded_batch([5, 3, 4], V_SRC, seed=seed + 1, pad_id=pad_id)
        longer = _padded_batch([5, 3, 4], V_SRC, seed=seed + 1, pad_id=pad_id, extra=3)
        tgt = _padded_batch([4, 4, 2], V_TGT, seed=seed + 2, pad_id=pad_id)
        with torch.no_grad():
            base = _forward(model, described, src, tgt)
            padded = _forward(model, described, longer, tgt)
            expect_tensor(padded, f"{described}(src with 3 extra padding columns, tgt)", shape=base.shape)
            if not is_close(padded, base):
                raise AssertionError(
                    f"{described}: appending 3 more padding tokens (id {pad_id}) to the source changed the logits. "
                    "Padding must be invisible: mask the padded source keys (padding_mask(src, self.pad_id)) in the "
                    "encoder's self-attention and in every decoder block's cross-attention"
                    + (", using the model's pad_id rather than 0." if pad_id else ".")
                )
            changed = src.clone()
            new = (src[:, 0] + 1) % V_SRC
            changed[:, 0] = torch.where(new == pad_id, (new + 1) % V_SRC, new)  # another real token
            out = _forward(model, described, changed, tgt)
            if is_close(out, base):
                raise AssertionError(
                    f"{described}: changing the first source token did not change any logit, so the decoder ignores the "
                    "source. Pass the encoder's output (the memory) to every decoder block's cross-attention."
                )


@check
def seq2seq_gradients(Seq2SeqTransformer):
    """A loss on the logits sends a finite, non-zero gradient to every parameter (encoder, decoder, embeddings, output)."""
    model, described = _build_seq2seq(Seq2SeqTransformer, 1400)
    model.train()
    src = _padded_batch([6, 4, 5], V_SRC, seed=1401)
    tgt = _padded_batch([5, 3, 5], V_TGT, seed=1402)
    logits = _forward(model, described, src, tgt)
    expect_tensor(logits, f"{described}(src, tgt)", shape=(3, 5, V_TGT))
    if not logits.requires_grad:
        raise AssertionError(
            f"The logits of {described} do not depend on any parameter through autograd: do not compute the "
            "forward pass under torch.no_grad() or detach it."
        )
    # The backward pass of (logits * w).sum(), for a random w, runs where the model lives; the
    # gradients come back as values, and what they show is judged here.
    w = randn(3, 5, V_TGT, seed=1403)
    with _guard_model():
        call_backward(model, f"{described}(src, tgt), then the backward pass of (logits * w).sum()", src, tgt, weights=w)
    params = []
    for name, parameter in model.named_parameters():
        grad = _local(parameter.grad)
        has = _isinstance(grad, torch.Tensor)
        params.append((name, has, has and bool((grad != 0).any()), has and bool(torch.isfinite(grad).all())))
    if not params:
        raise AssertionError(f"{described} has no parameters: register the parts as attributes of the module.")
    missing = [name for name, has, _, _ in params if not has]
    zero = [name for name, has, nonzero, _ in params if has and not nonzero]
    broken = [name for name, has, _, finite in params if has and not finite]
    if missing or zero:
        names = missing or zero
        where = ""
        if any(n.startswith("encoder") or n.startswith("src_embed") for n in names):
            where = (" The encoder gets no gradient: the memory must flow into the decoder's cross-attention "
                     "without .detach() or torch.no_grad().")
        raise AssertionError(
            f"After the backward pass, {len(names)} parameter(s) of {described} got "
            f"{'no' if missing else 'an all-zero'} gradient, e.g. {names[:3]}: every part should take part in the "
            f"forward pass, and nothing unused should be registered.{where}"
        )
    if broken:
        raise AssertionError(f"The gradients of {broken[:3]} contain NaN or infinite values.")


# ---------------------------------------------------------------------------------------------
# train_step
# ---------------------------------------------------------------------------------------------
def _guard_step(train_step):
    return guarded(train_step, "none", "train_step")


def _reference_loss(model, src, tgt_in, tgt_out, pad_id, reduction="mean", ignore=True):
    logits = model(tgt_in) if src is None else model(src, tgt_in)
    flat, target = logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1)
    if ignore:
        return F.cross_entropy(flat, target, ignore_index=pad_id, reduction=reduction)
    return F.cross_entropy(flat, target, reduction=reduction)


def _sgd_after(model, src, tgt_in, tgt_out, pad_id, lr, stale=None, **loss_kwargs):
    """Parameters (flattened) after one SGD step of the reference recipe, and the loss before it."""
    clone = copy.deepcopy(model)
    params = list(clone.parameters())
    for p in params:
        p.grad = None
    loss = _reference_loss(clone, src, tgt_in, tgt_out, pad_id, **loss_kwargs)
    loss.backward()
    with torch.no_grad():
        for p, s in zip(params, stale or [None] * len(params)):
            g = p.grad if s is None else p.grad + s
            p -= lr * g
    return torch.cat([p.detach().reshape(-1) for p in params]), loss.detach()


def _flat(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _step_batch(pad_id: int, seed: int, extra: int = 0):
    src = _padded_batch([5, 3, 6, 4], V_SRC, seed=seed, pad_id=pad_id, extra=extra)
    answer = _padded_batch([4, 2, 5, 3], V_TGT, seed=seed + 1, pad_id=pad_id, extra=extra)  # tgt_out (padded)
    bos = 1 if pad_id != 1 else 2
    tgt_in = torch.cat([torch.full((4, 1), bos), answer[:, :-1]], dim=1)  # shifted right
    tgt_in[answer == pad_id] = pad_id
    return src, tgt_in, answer


def _run_step(run, model, optimizer, src, tgt_in, tgt_out, pad_id, described):
    return _step_loss(call(run, described, model, optimizer, src, tgt_in, tgt_out, pad_id), described)


def _step_loss(result, described: str) -> float:
    """What one train_step call returned, as the float it must be."""
    if _isinstance(result, torch.Tensor):
        raise AssertionError(
            f"{described} returned a tensor; return the loss as a Python float (loss.item()), so that the caller can "
            "store it without keeping the whole computation graph alive."
        )
    if not _isinstance(result, (float, int)) or _isinstance(result, bool):
        raise AssertionError(f"{described} should return the loss as a Python float, but it returned {type(result).__name__}.")
    return _float(result)


def _loss_mistakes(model, src, tgt_in, tgt_out, pad_id, lr) -> dict:
    with torch.no_grad():
        out = {
            "you included the padding positions in the loss (use ignore_index=pad_id in F.cross_entropy)":
                _reference_loss(model, src, tgt_in, tgt_out, pad_id, ignore=False),
            "you summed the loss over the positions instead of averaging": _reference_loss(
                model, src, tgt_in, tgt_out, pad_id, reduction="sum"),
        }
        if pad_id != 0:
            out["you ignored id 0 instead of the pad_id argument"] = _reference_loss(model, src, tgt_in, tgt_out, 0)
    after = copy.deepcopy(model)
    _sgd_copy_into(after, model, src, tgt_in, tgt_out, pad_id, lr)
    with torch.no_grad():
        out["you returned the loss after the update; return the loss of the batch before optimizer.step()"] = \
            _reference_loss(after, src, tgt_in, tgt_out, pad_id)
    return out


def _sgd_copy_into(target, model, src, tgt_in, tgt_out, pad_id, lr) -> None:
    flat, _ = _sgd_after(model, src, tgt_in, tgt_out, pad_id, lr)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(flat, target.parameters())


def _as_scalar(value) -> torch.Tensor:
    """A loss as a float64 tensor of shape (1,) (expect_close compares tensors with at least one axis)."""
    if _isinstance(value, torch.Tensor):
        return value.detach().double().reshape(1)
    return torch.tensor([value], dtype=torch.float64)


@check
def train_step_loss(train_step):
    """The returned loss is a Python float: the mean cross-entropy over the non-padding targets, before the update."""
    run = _guard_step(train_step)
    for i, (pad_id, dtype) in enumerate(cases([(0, torch.float32), (0, torch.float64), (2, torch.float64)])):
        model = _reference_seq2seq(1500 + i, pad_id=pad_id, dtype=dtype).train()
        src, tgt_in, tgt_out = _step_batch(pad_id, seed=1510 + i)
        with torch.no_grad():
            expected = _as_scalar(_reference_loss(model, src, tgt_in, tgt_out, pad_id))
        mistakes = {k: _as_scalar(v) for k, v in _loss_mistakes(model, src, tgt_in, tgt_out, pad_id, 0.5).items()}
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        described = f"train_step(model, optimizer, src, tgt_in, tgt_out, pad_id={pad_id}) ({dtype} model)"
        loss = _run_step(run, model, optimizer, src, tgt_in, tgt_out, pad_id, described)
        expect_close(
            _as_scalar(loss), expected, f"the loss returned by {described}",
            mistakes=distinct(mistakes, expected), rtol=1e-5, atol=1e-6,
            hint="Return F.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1), ignore_index=pad_id).item(), "
            "computed before optimizer.step().",
        )


@check
def train_step_update(train_step):
    """After one step with stale gradients in .grad, the parameters equal one clean SGD step on this batch's loss."""
    run = _guard_step(train_step)
    lr = 0.5
    for i, (pad_id, dtype) in enumerate(cases([(0, torch.float64), (2, torch.float32)])):
        model = _reference_seq2seq(1600 + i, pad_id=pad_id, dtype=dtype).train()
        src, tgt_in, tgt_out = _step_batch(pad_id, seed=1610 + i)
        params = list(model.parameters())
        stale = [torch.full_like(p, 0.01) for p in params]  # left over from an earlier batch
        for p, s in zip(params, stale):
            p.grad = s.clone()
        before = _flat(model)
        expected, _ = _sgd_after(model, src, tgt_in, tgt_out, pad_id, lr)
        no_zero_grad, _ = _sgd_after(model, src, tgt_in, tgt_out, pad_id, lr, stale=stale)
        with_padding, _ = _sgd_after(model, src, tgt_in, tgt_out, pad_id, lr, ignore=False)
        summed, _ = _sgd_after(model, src, tgt_in, tgt_out, pad_id, lr, reduction="sum")
        mistakes = {
            "you did not clear the old gradients (optimizer.zero_grad()) before loss.backward(), so last batch's "
            "gradients were added to this one's": no_zero_grad,
            "the parameters did not change: call optimizer.step() after loss.backward() (and zero the gradients "
            "before backward, not between backward and step)": before,
            "the update includes the padding positions (use ignore_index=pad_id)": with_padding,
            "the update follows the summed loss instead of the mean": summed,
        }
        optimizer = torch.optim.SGD(params, lr=lr)
        described = f"train_step(model, SGD(lr={lr}), src, tgt_in, tgt_out, pad_id={pad_id}) ({dtype} model)"
        _run_step(run, model, optimizer, src, tgt_in, tgt_out, pad_id, described)
        tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-7, "atol": 1e-9}
        expect_close(_flat(model), expected, f"the parameters after {described}", mistakes=distinct(mistakes, expected),
                     hint="A training step is: optimizer.zero_grad(); loss = ...; loss.backward(); optimizer.step().", **tol)


@check
def train_step_padding(train_step):
    """Extra padding columns change neither the loss nor the update, also when pad_id is not 0."""
    run = _guard_step(train_step)
    for i, pad_id in enumerate(cases([3, 0])):
        results = []
        for extra in (0, 3):
            model = _reference_seq2seq(1700 + i, pad_id=pad_id, dtype=torch.float64).train()
            src, tgt_in, tgt_out = _step_batch(pad_id, seed=1710 + i, extra=extra)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
            described = (f"train_step(..., pad_id={pad_id}) on a batch with {extra} extra padding column(s) "
                         f"(target of shape {tuple(tgt_out.shape)})")
            loss = _run_step(run, model, optimizer, src, tgt_in, tgt_out, pad_id, described)
            results.append((loss, _flat(model)))
        (loss0, flat0), (loss3, flat3) = results
        if not is_close(_as_scalar(loss3), _as_scalar(loss0), rtol=1e-7, atol=1e-9):
            raise AssertionError(
                f"With pad_id={pad_id}, adding padding columns to the same batch changed the returned loss from "
                f"{loss0:.6f} to {loss3:.6f}. Padding positions must not count: "
                + ("use ignore_index=pad_id (the argument, not 0)." if pad_id else "use ignore_index=pad_id.")
            )
        if not is_close(flat3, flat0):
            raise AssertionError(
                f"With pad_id={pad_id}, adding padding columns to the same batch changed the update of the parameters: "
                "padding positions must contribute nothing to the loss or its gradient."
            )


def _train_steps(train_step, model, optimizer, src, tgt_in, tgt_out, steps: int):
    """`steps` calls of train_step (pad_id 0) where the student's code lives, in one request: what
    each call returned, and the trained weights."""
    returned = [train_step(model, optimizer, src, tgt_in, tgt_out, 0) for _ in range(steps)]
    return returned, {name: value.detach().clone() for name, value in model.state_dict().items()}


@check
def train_step_learns(train_step):
    """Repeated steps with Adam on one fixed batch lower the loss (to under half of the first one)."""
    refuse_delegation(train_step, "none", "train_step")
    model = _reference_seq2seq(1800).train()
    src, tgt_in, tgt_out = _step_batch(0, seed=1810)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    described = "train_step(model, Adam(lr=0.01), ...) on one fixed batch"
    with no_delegation("train_step", "none", "train_step"):
        returned, state = call(in_kernel, described, _train_steps, train_step, model, optimizer, src, tgt_in, tgt_out, 25)
    losses = [_step_loss(result, described) for result in returned]
    model.load_state_dict(state)
    with torch.no_grad():
        first = _float(_reference_loss(_reference_seq2seq(1800), src, tgt_in, tgt_out, 0))
        now = _float(_reference_loss(model, src, tgt_in, tgt_out, 0))
    if not math.isfinite(losses[-1]) or not now < 0.5 * first:
        raise AssertionError(
            f"25 calls of train_step with Adam(lr=0.01) on one fixed batch took its loss from {first:.3f} to {now:.3f} "
            f"(returned losses: {losses[0]:.3f} ... {losses[-1]:.3f}); a working step brings it below half. Check that "
            "the step computes the gradient of this batch's loss and calls optimizer.step()."
        )


@check
def train_step_language_model(train_step):
    """With src=None the step trains a decoder-only model, model(tgt_in) -> logits, with the same loss and update."""
    run = _guard_step(train_step)
    model = _reference_lm(1900, dtype=torch.float64).train()
    g = seeded(1901)
    tokens = torch.randint(2, 13, (3, 9), generator=g)
    tgt_in, tgt_out = tokens[:, :-1], tokens[:, 1:]
    with torch.no_grad():
        expected_loss = _as_scalar(_reference_loss(model, None, tgt_in, tgt_out, 0))
    expected, _ = _sgd_after(model, None, tgt_in, tgt_out, 0, 0.5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    described = "train_step(language_model, optimizer, None, tgt_in, tgt_out, pad_id=0)"
    loss = _run_step(run, model, optimizer, None, tgt_in, tgt_out, 0, described)
    expect_close(_as_scalar(loss), expected_loss, f"the loss returned by {described}", rtol=1e-7, atol=1e-9,
                 hint="With src=None, call model(tgt_in) (a decoder-only model takes one argument).")
    expect_close(_flat(model), expected, f"the parameters after {described}")


# ---------------------------------------------------------------------------------------------
# generate
# ---------------------------------------------------------------------------------------------
def _guard_generate(generate):
    return guarded(generate, "none", "generate")


class _Probe(nn.Module):
    """A stand-in model: logits from a rule, recording every input it is called with.

    The last position's logits come from `last(ids)`; every other position strongly prefers
    token `decoy`, so a generator that reads the wrong position picks it.
    """

    def __init__(self, vocab_size: int, last, decoy: int = 0, max_input: int | None = None):
        super().__init__()
        self.vocab_size, self.last, self.decoy, self.max_input = vocab_size, last, decoy, max_input
        self.calls: list[torch.Tensor] = []
        self.dummy = nn.Parameter(torch.zeros(1))  # so that next(model.parameters()) works

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if not _isinstance(ids, torch.Tensor) or ids.dim() != 2:
            raise AssertionError(
                f"the model should be called with a (B, T) tensor of token ids, but got "
                f"{tuple(ids.shape) if _isinstance(ids, torch.Tensor) else type(ids).__name__}."
            )
        if self.max_input is not None and ids.shape[1] > self.max_input:
            raise AssertionError(
                f"with context_len={self.max_input} the model was called with {ids.shape[1]} tokens; feed it only the "
                f"last context_len tokens (ids[:, -context_len:])."
            )
        self.calls.append(ids.detach().clone())
        B, T = ids.shape
        logits = torch.full((B, T, self.vocab_size), -4.0)
        logits[:, :, self.decoy] = 6.0
        logits[:, -1] = self.last(ids)
        return logits


class _WindowLM(nn.Module):
    """A small causal model with fixed random weights whose greedy rollouts do not settle into one token.

    logits[b, t] = sum over k < K of table[ids[b, t - k], k]: each of the last K tokens votes for the
    next one, with a vote that depends on how far back it is. (An untrained Transformer with tied
    embeddings mostly repeats its last token, which would make many mistakes look right.)
    """

    def __init__(self, vocab_size: int, seed: int, window: int = 4, scale: float = 1.5):
        super().__init__()
        table = torch.randn(vocab_size, window, vocab_size, generator=seeded(seed), dtype=torch.float64) * scale
        self.register_buffer("table", table.float())
        self.window = window

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        B, T = ids.shape
        logits = torch.zeros(B, T, self.table.shape[-1])
        for k in range(min(self.window, T)):
            logits[:, k:] += self.table[ids[:, : T - k], k]  # token t - k votes for position t
        return logits


def _length_rule(vocab_size: int):
    """Last-position logits that prefer token (T % (V - 1)) + 1, where T is the input length (never the decoy 0)."""

    def last(ids):
        B, T = ids.shape
        out = torch.zeros(B, vocab_size)
        out[:, (T % (vocab_size - 1)) + 1] = 5.0
        return out

    return last


def _expect_generated(out, prompt: torch.Tensor, n: int, vocab_size: int, described: str) -> None:
    B, T0 = prompt.shape
    expect_tensor(out, described, shape=(B, T0 + n))
    if out.dtype != torch.long:
        raise AssertionError(f"{described} should hold token ids as torch.long, but it has dtype {out.dtype}.")
    if not torch.equal(out[:, :T0], prompt):
        raise AssertionError(f"{described}: the first {T0} tokens should be the prompt, unchanged, followed by the new ones.")
    if out.numel() and (int(out.min()) < 0 or int(out.max()) >= vocab_size):
        raise AssertionError(f"{described} contains ids outside 0..{vocab_size - 1}.")


def _gen(run, described, model, prompt, n, **kwargs):
    return call(run, described, model, prompt, n, **kwargs)


def _rollout(model, prompt: torch.Tensor, n: int, *, position=-1, last_token_only=False, no_append=False) -> torch.Tensor:
    """Greedy decoding computed here; keyword arguments give the outputs of common mistakes."""
    ids = prompt
    with torch.no_grad():
        for _ in range(n):
            source = prompt if no_append else ids
            inp = source[:, -1:] if last_token_only else source
            logits = model(inp)
            step = logits.mean(dim=1) if position == "mean" else logits[:, position]
            ids = torch.cat([ids, step.argmax(dim=-1, keepdim=True)], dim=1)
    return ids


@check
def generate_greedy(generate):
    """temperature=0 equals a greedy rollout: at each step, the argmax of the last position's logits is appended."""
    run = _guard_generate(generate)
    for i, (B, T0, n) in enumerate(cases([(1, 3, 8), (3, 5, 6), (2, 1, 10)])):
        model = _WindowLM(13, seed=2000 + i) if i < 2 else _reference_lm(2000 + i, vocab_size=13, dtype=torch.float64)
        prompt = torch.randint(0, 13, (B, T0), generator=seeded(2010 + i))
        described = f"generate(model, prompt of shape {(B, T0)}, max_new_tokens={n}, temperature=0)"
        out = _gen(run, described, model, prompt, n, temperature=0.0)
        _expect_generated(out, prompt, n, 13, described)
        expected = _rollout(model, prompt, n)
        if torch.equal(out, expected):
            continue
        mistakes = {
            "you took the logits of the first position instead of the last": _rollout(model, prompt, n, position=0),
            "you averaged the logits over the positions instead of taking the last one": _rollout(model, prompt, n, position="mean"),
            "you fed the model only the last token instead of the whole sequence so far": _rollout(model, prompt, n, last_token_only=True),
            "you fed the model the prompt at every step instead of the sequence including the new tokens":
                _rollout(model, prompt, n, no_append=True),
        }
        found = next((text for text, wrong in mistakes.items() if torch.equal(out, wrong)), None)
        raise AssertionError(
            f"{described} returned {out[0].tolist()} (first row), but greedy decoding gives {expected[0].tolist()}."
            + (f" It looks like {found}." if found else "")
            + " At each step: logits = model(ids)[:, -1]; next = argmax; append it to ids."
        )


@check
def generate_lengths(generate):
    """The prompt followed by exactly max_new_tokens new tokens, as torch.long, for several batch sizes and lengths (0 included)."""
    run = _guard_generate(generate)
    for i, (B, T0, n) in enumerate(cases([(1, 4, 0), (2, 1, 1), (3, 6, 7), (1, 2, 12)])):
        model = _reference_lm(2100 + i, vocab_size=11)
        prompt = torch.randint(0, 11, (B, T0), generator=seeded(2110 + i))
        for kwargs in ({"temperature": 0.0}, {"temperature": 1.0, "generator": seeded(2120)}):
            described = f"generate(model, prompt of shape {(B, T0)}, max_new_tokens={n}, temperature={kwargs['temperature']})"
            out = _gen(run, described, model, prompt, n, **kwargs)
            _expect_generated(out, prompt, n, 11, described)
    model = _reference_lm(2130, vocab_size=11)
    prompt = torch.randint(0, 11, (2, 3), generator=seeded(2131))
    out = _gen(run, "generate(model, prompt, 5) with the default temperature", model, prompt, 5)
    _expect_generated(out, prompt, 5, 11, "generate(model, prompt of shape (2, 3), 5) with the default temperature")


@check
def generate_last_position(generate):
    """Each step feeds the whole sequence so far and uses only the last position's logits (other positions are decoys)."""
    run = _guard_generate(generate)
    V = 7
    for B, T0, n in cases([(2, 3, 5), (1, 1, 4)]):
        probe = _Probe(V, _length_rule(V), decoy=0)
        prompt = torch.randint(1, V, (B, T0), generator=seeded(2200 + T0))
        described = f"generate(model, prompt of shape {(B, T0)}, max_new_tokens={n}, temperature=0)"
        out = _gen(run, described, probe, prompt, n, temperature=0.0)
        _expect_generated(out, prompt, n, V, described)
        expected = torch.cat([prompt, torch.tensor([[(T % (V - 1)) + 1 for T in range(T0, T0 + n)]] * B)], dim=1)
        if not torch.equal(out, expected):
            decoys = bool((out[:, T0:] == 0).any())
            raise AssertionError(
                f"{described}: with a model whose last position says 'next is token (T % 6) + 1' and whose other positions "
                f"all prefer token 0, you generated {out[0, T0:].tolist()} instead of {expected[0, T0:].tolist()}."
                + (" You used the logits of a position other than the last." if decoys else "")
                + " Only logits[:, -1] predicts the next token."
            )
        if len(probe.calls) != n:
            raise AssertionError(f"{described} called the model {len(probe.calls)} times; one call per new token ({n}) is expected.")
        for step, seen in enumerate(probe.calls):
            want = out[:, : T0 + step]
            if tuple(seen.shape) != tuple(want.shape) or not torch.equal(seen, want):
                raise AssertionError(
                    f"{described}: at step {step} the model should read the whole sequence so far, {tuple(want.shape)} "
                    f"(prompt and the tokens generated before), but it was called with shape {tuple(seen.shape)}."
                )


@check
def generate_context(generate):
    """With context_len, the model reads only the last context_len tokens; without it, all of them."""
    run = _guard_generate(generate)
    V, context = 7, 4
    probe = _Probe(V, _length_rule(V), max_input=context)
    prompt = torch.randint(1, V, (2, 6), generator=seeded(2300))
    described = f"generate(model, prompt of shape (2, 6), max_new_tokens=5, temperature=0, context_len={context})"
    out = _gen(run, described, probe, prompt, 5, temperature=0.0, context_len=context)
    _expect_generated(out, prompt, 5, V, described)
    for step, seen in enumerate(probe.calls):
        want = out[:, : 6 + step][:, -context:]
        if not torch.equal(seen, want):
            first = out[:, : 6 + step][:, :context]
            raise AssertionError(
                f"{described}: at step {step} the model should read the last {context} tokens {want[0].tolist()}, but it "
                f"read {seen[0].tolist()}."
                + (" Those are the first tokens: crop with ids[:, -context_len:]." if torch.equal(seen, first) else "")
            )


@check
def generate_generator(generate):
    """The same seeded generator gives the same text whatever the global random state; other seeds give other text."""
    run = _guard_generate(generate)
    model = _WindowLM(13, seed=2400, scale=0.5)  # flat distributions: different seeds give different text
    prompt = torch.randint(0, 13, (4, 3), generator=seeded(2401))
    described = "generate(model, prompt of shape (4, 3), max_new_tokens=30, temperature=1.0, generator=g)"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        first = _gen(run, described, model, prompt, 30, temperature=1.0, generator=seeded(2402))
        torch.manual_seed(2)
        again = _gen(run, described, model, prompt, 30, temperature=1.0, generator=seeded(2402))
        other = _gen(run, described, model, prompt, 30, temperature=1.0, generator=seeded(2403))
    for out in (first, again, other):
        _expect_generated(out, prompt, 30, 13, described)
    if not torch.equal(first, again):
        raise AssertionError(
            "Two generators with the same seed gave different text: your sampling uses the global random state. Pass "
            "`generator` on to the sampler (sample_next_token(logits, temperature, generator))."
        )
    if torch.equal(first, other):
        raise AssertionError(
            "Generators with different seeds gave exactly the same 120 tokens: sample with the generator you are "
            "given (temperature > 0 means sampling, not argmax)."
        )


# A Markov chain: the next-token logits depend on the last token only (row = last token).
_TABLE = torch.tensor([
    [0.9, -0.4, 0.3, 0.0, -0.8],
    [-0.2, 0.6, -0.5, 0.4, 0.1],
    [0.5, 0.5, -0.3, -0.6, 0.2],
    [-0.7, 0.2, 0.8, 0.1, -0.1],
    [0.0, -0.3, 0.1, 0.7, 0.3],
], dtype=torch.float64)
_CHI2_LIMIT = 80.0  # 4 degrees of freedom: P(chi2 > 80) < 2e-16 for a correct sampler
_ROWS = 6000


def _markov_rule(ids):
    return _TABLE[ids[:, -1]].float()


def _chi2(counts: torch.Tensor, probs: torch.Tensor) -> float:
    expected = probs * counts.sum()
    return _float(((counts - expected) ** 2 / expected).sum())


@check
def generate_distribution(generate):
    """Many seeded rows: the first and second new tokens follow softmax(logits / T) (chi-square test, any sampling method)."""
    run = _guard_generate(generate)
    V = _TABLE.shape[0]
    for temperature in (0.6, 1.0, 1.8):
        probe = _Probe(V, _markov_rule, decoy=0)
        prompt = torch.full((_ROWS, 2), 3, dtype=torch.long)
        prompt[:, 0] = 1
        described = f"generate(model, prompt of shape {tuple(prompt.shape)}, max_new_tokens=2, temperature={temperature}, generator=g)"
        out = _gen(run, described, probe, prompt, 2, temperature=temperature, generator=seeded(2500 + int(10 * temperature)))
        _expect_generated(out, prompt, 2, V, described)
        first = out[:, 2]
        checks = [("the first new token (after token 3)", first, _TABLE[3])]
        common = int(torch.bincount(first, minlength=V).argmax())
        checks.append((f"the second new token, in rows whose first new token is {common}", out[first == common, 3], _TABLE[common]))
        for what, ids, logits in checks:
            counts = torch.bincount(ids, minlength=V).double()
            target = torch.softmax(logits / temperature, dim=-1)
            stat = _chi2(counts, target)
            if stat <= _CHI2_LIMIT:
                continue
            freq = (counts / counts.sum()).tolist()
            message = (
                f"{described}: the frequencies of {what} over {int(counts.sum())} rows are {[round(f, 3) for f in freq]}, "
                f"but softmax(logits / temperature) is {[round(p, 3) for p in target.tolist()]} (chi-square {stat:.0f}; a "
                f"correct sampler stays below {_CHI2_LIMIT:.0f} except with probability < 1e-15)."
            )
            if (counts > 0).sum() == 1:
                message += " Every row got the same token: with temperature > 0, sample instead of taking the argmax."
            elif _chi2(counts, torch.softmax(logits, dim=-1)) <= _CHI2_LIMIT:
                message += " It looks like you ignored the temperature."
            elif _chi2(counts, torch.softmax(logits * temperature, dim=-1)) <= _CHI2_LIMIT:
                message += " It looks like you multiplied the logits by the temperature instead of dividing."
            raise AssertionError(message)
