"""Training and sampling for the capstone: settings, one training step, the loop, generation, evaluation.

The capstone notebook and ``benchmarks/capstone.py`` both take their settings from here
(:func:`capstone_settings`), so the benchmark measures exactly what the notebook runs. The
notebook uses the student's own model, ``train_step`` and ``generate``; the benchmark uses the
reference versions below, which are the same computations.

Taught in: course/08_capstone
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TextIO

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.std import tqdm

from ._checks import require_positive_int
from .data import REVERSAL_BOS, REVERSAL_PAD, exact_match, reversal_batch
from .output import sample_next_token

# The capstone's models are tiny (d_model = 64): their matrix products take microseconds, and a
# second thread costs more in synchronisation than it saves. On a shared 2-core machine, two
# threads per process also fight with everything else that runs (30x slower in our measurements).
NUM_THREADS = 1


@dataclass(frozen=True)
class ReversalConfig:
    """Encoder-decoder on digit reversal: data, model size and optimisation."""

    min_len: int = 2  # digit strings have min_len..max_len digits
    max_len: int = 12
    d_model: int = 64
    num_heads: int = 4
    d_ff: int = 128
    num_layers: int = 2  # encoder blocks, and as many decoder blocks
    batch_size: int = 64
    num_steps: int = 700
    lr: float = 2e-3  # peak learning rate of Adam
    warmup_steps: int = 100  # linear warm-up, then cosine decay to 0
    eval_examples: int = 1000  # held-out strings for exact match
    seed: int = 0


@dataclass(frozen=True)
class CharLMConfig:
    """Decoder-only character model on the docstring corpus."""

    d_model: int = 64
    num_heads: int = 4
    d_ff: int = 256
    num_layers: int = 2
    context_len: int = 64  # T: characters the model sees at once
    batch_size: int = 32
    num_steps: int = 1000
    lr: float = 3e-3
    warmup_steps: int = 100
    val_fraction: float = 0.1  # the last 10 % of the corpus is the validation split
    eval_windows: int | None = None  # None: score the whole validation split
    seed: int = 0


# The full schedule (a few minutes on 2 CPU cores) and a reduced one that only proves the code
# runs (seconds; the notebook picks it while it is being graded). Only the full one reaches the
# targets.
REVERSAL = ReversalConfig()
CHAR_LM = CharLMConfig()
REVERSAL_REDUCED = replace(REVERSAL, num_steps=15, warmup_steps=5, eval_examples=100)
CHAR_LM_REDUCED = replace(CHAR_LM, num_steps=15, warmup_steps=5, eval_windows=32)


def capstone_settings(reduced: bool = False) -> tuple[ReversalConfig, CharLMConfig]:
    """The capstone's settings: the full schedule, or the reduced one if ``reduced``.

    Taught in: course/08_capstone
    """
    return (REVERSAL_REDUCED, CHAR_LM_REDUCED) if reduced else (REVERSAL, CHAR_LM)


def configure_torch() -> None:
    """Use NUM_THREADS CPU threads (see the comment there).

    Taught in: course/08_capstone
    """
    torch.set_num_threads(NUM_THREADS)


def adam_with_warmup(
    model: nn.Module, lr: float, warmup_steps: int, num_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """Adam, and a schedule that warms the learning rate up linearly, then decays it along a cosine.

    Post-norm Transformers need the warm-up: large early steps through freshly initialised
    layer norms can throw training off (Vaswani et al. warm up for 4000 steps).
    Call ``scheduler.step()`` once after every ``optimizer.step()``.

    Taught in: course/08_capstone
    """
    require_positive_int(num_steps, "num_steps")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / max(1, warmup_steps))
        return warm * 0.5 * (1.0 + math.cos(math.pi * min(step, num_steps) / num_steps))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    src: torch.Tensor | None,
    tgt_in: torch.Tensor,
    tgt_out: torch.Tensor,
    pad_id: int,
) -> float:
    """One step of gradient descent with teacher forcing; returns the loss before the update.

    Args:
        model: ``model(src, tgt_in)`` (encoder-decoder) or, when ``src`` is None,
            ``model(tgt_in)`` (decoder-only) -> logits ``(B, T, V)``.
        optimizer: over ``model``'s parameters.
        src: long ``(B, S)`` or None.
        tgt_in, tgt_out: long ``(B, T)``: what the decoder reads, and what it must predict there.
        pad_id: target positions holding ``pad_id`` in ``tgt_out`` are not scored.

    Returns:
        The mean cross-entropy over the non-padding target positions, as a Python float.

    Equation: loss = -(1/N) sum_{(b, t): tgt_out[b, t] != pad} log softmax(logits[b, t])[tgt_out[b, t]].

    Taught in: course/08_capstone
    """
    logits = model(tgt_in) if src is None else model(src, tgt_in)  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad_id)
    optimizer.zero_grad()  # gradients accumulate in .grad until cleared
    loss.backward()
    optimizer.step()
    return loss.item()


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    next_batch: Callable[[], tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]],
    num_steps: int,
    pad_id: int,
    step_fn: Callable[..., float] = train_step,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    desc: str = "training",
    progress: TextIO | None = None,
) -> list[float]:
    """Call ``step_fn`` on ``num_steps`` fresh batches; return the losses.

    ``next_batch()`` returns ``(src, tgt_in, tgt_out)`` (``src`` None for a language model).
    ``progress`` is the text stream a progress bar (tqdm) is written to, e.g. ``sys.stdout``;
    None (the default) shows none.

    Taught in: course/08_capstone
    """
    require_positive_int(num_steps, "num_steps")
    model.train()
    losses: list[float] = []
    bar = tqdm(range(num_steps), desc=desc, file=progress, ncols=90, mininterval=2.0, disable=progress is None)
    for _ in bar:
        src, tgt_in, tgt_out = next_batch()
        losses.append(step_fn(model, optimizer, src, tgt_in, tgt_out, pad_id))
        if scheduler is not None:
            scheduler.step()
        bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
    model.eval()
    return losses


@torch.no_grad()
def generate(
    model: Callable[[torch.Tensor], torch.Tensor],
    prompt_ids: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    context_len: int | None = None,
) -> torch.Tensor:
    """Extend ``prompt_ids`` one token at a time, feeding each choice back in (autoregressive decoding).

    Args:
        model: maps long ``(B, T)`` to logits ``(B, T, V)``.
        prompt_ids: long ``(B, T0)``.
        max_new_tokens: how many tokens to add (>= 0).
        temperature: 0 = greedy (argmax), else sample from softmax(logits / temperature).
        generator: ``torch.Generator`` for the draws (None: the global one).
        context_len: if given, the model sees only the last ``context_len`` tokens.

    Returns:
        long ``(B, T0 + max_new_tokens)``: the prompt followed by the new tokens.

    Taught in: course/08_capstone
    """
    require_positive_int(max_new_tokens, "max_new_tokens", allow_zero=True)
    ids = prompt_ids
    for _ in range(max_new_tokens):
        context = ids if context_len is None else ids[:, -context_len:]  # (B, <= context_len)
        logits = model(context)[:, -1]  # (B, V): only the last position predicts the next token
        next_id = sample_next_token(logits, temperature, generator)  # (B,)
        ids = torch.cat([ids, next_id[:, None]], dim=1)  # (B, T + 1)
    return ids


@torch.no_grad()
def reversal_exact_match(
    model: nn.Module,
    config: ReversalConfig,
    generate_fn: Callable[..., torch.Tensor] = generate,
    seed: int = 1,
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Greedy-decode ``config.eval_examples`` held-out strings; return (exact-match rate, src, answers).

    ``model`` has ``encode(src)`` and ``decode(tgt, memory, src)``; the source is encoded once
    and ``generate_fn`` runs the decoder as a language model conditioned on it.
    ``answers`` ``(B, L)`` are the generated tokens after <bos>.

    Taught in: course/08_capstone
    """
    model.eval()
    src, _, tgt_out = reversal_batch(
        config.eval_examples, config.min_len, config.max_len, torch.Generator().manual_seed(seed), held_out=True
    )
    memory = model.encode(src)  # (B, S, d_model)
    start = torch.full((src.shape[0], 1), REVERSAL_BOS, dtype=torch.long)  # (B, 1)
    out = generate_fn(lambda tgt: model.decode(tgt, memory, src), start, tgt_out.shape[1], temperature=0.0)
    answers = out[:, 1:]  # (B, T): drop <bos>
    return float(exact_match(answers, tgt_out).float().mean()), src, answers


@torch.no_grad()
def lm_bits_per_char(
    model: Callable[[torch.Tensor], torch.Tensor],
    ids: torch.Tensor,
    context_len: int,
    max_windows: int | None = None,
    batch_size: int = 256,
) -> float:
    """Validation loss in bits per character over non-overlapping windows of ``ids``.

    Every character of ``ids[1:]`` is scored once (up to ``max_windows`` windows), given at most
    ``context_len`` preceding characters of its window, so the number is comparable with
    :func:`~transformer_reference.data.bigram_bits_per_char` on the same ids.

    Equation: bits/char = mean cross-entropy in nats / ln 2.

    Taught in: course/08_capstone
    """
    n_windows = (len(ids) - 1) // context_len
    if max_windows is not None:
        n_windows = min(n_windows, max_windows)
    starts = torch.arange(n_windows) * context_len  # (N,)
    offsets = torch.arange(context_len + 1)  # (T + 1,)
    windows = ids[starts[:, None] + offsets]  # (N, T + 1)
    total, count = 0.0, 0
    for chunk in windows.split(batch_size):
        logits = model(chunk[:, :-1])  # (n, T, V)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1), reduction="sum").item()
        count += chunk[:, 1:].numel()
    return total / count / math.log(2)


__all__ = [
    "NUM_THREADS",
    "ReversalConfig",
    "CharLMConfig",
    "REVERSAL",
    "CHAR_LM",
    "REVERSAL_REDUCED",
    "CHAR_LM_REDUCED",
    "REVERSAL_PAD",
    "capstone_settings",
    "configure_torch",
    "adam_with_warmup",
    "train_step",
    "fit",
    "generate",
    "reversal_exact_match",
    "lm_bits_per_char",
]
