"""Benchmark of the capstone notebook (course/08_capstone): train both models with its settings.

    .venv/bin/python benchmarks/capstone.py             # the full schedule a student runs by hand
    .venv/bin/python benchmarks/capstone.py --reduced   # the schedule the autograder runs

Settings come from transformer_reference.training.capstone_settings (the notebook reads the same
ones); the reference EncoderDecoder / DecoderOnlyLM, train_step and generate stand in for the
student's. Prints wall time, held-out exact match of digit reversal, and validation bits per
character of the character model next to unigram and bigram baselines on the same split.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from transformer_reference.data import (
    REVERSAL_PAD,
    REVERSAL_VOCAB_SIZE,
    bigram_bits_per_char,
    docstring_corpus,
    reversal_batch,
    split_corpus,
    unigram_bits_per_char,
)
from transformer_reference.models import DecoderOnlyLM, EncoderDecoder
from transformer_reference.tokenizer import Vocabulary
from transformer_reference.training import (
    NUM_THREADS,
    adam_with_warmup,
    capstone_settings,
    configure_torch,
    fit,
    generate,
    lm_bits_per_char,
    reversal_exact_match,
)


def reversal(cfg, progress) -> dict:
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    model = EncoderDecoder(
        REVERSAL_VOCAB_SIZE, REVERSAL_VOCAB_SIZE, d_model=cfg.d_model, num_heads=cfg.num_heads, d_ff=cfg.d_ff,
        num_layers=cfg.num_layers, max_len=cfg.max_len + 1, pad_id=REVERSAL_PAD,
    )
    optimizer, scheduler = adam_with_warmup(model, cfg.lr, cfg.warmup_steps, cfg.num_steps)
    data = torch.Generator().manual_seed(cfg.seed)
    losses = fit(
        model, optimizer, lambda: reversal_batch(cfg.batch_size, cfg.min_len, cfg.max_len, data),
        cfg.num_steps, REVERSAL_PAD, scheduler=scheduler, desc="reversal", progress=progress,
    )
    trained = time.perf_counter()
    accuracy, _, _ = reversal_exact_match(model, cfg, generate)
    return {"train_s": trained - start, "eval_s": time.perf_counter() - trained, "final_loss": losses[-1], "exact_match": accuracy}


def char_lm(cfg, progress) -> dict:
    start = time.perf_counter()
    text = docstring_corpus()
    vocab = Vocabulary.from_texts([text])
    ids = torch.tensor(vocab.encode(text))
    train_ids, val_ids = split_corpus(ids, cfg.val_fraction)
    V = len(vocab)
    unigram = unigram_bits_per_char(train_ids, val_ids, V)
    bigram = bigram_bits_per_char(train_ids, val_ids, V)
    corpus_s = time.perf_counter() - start

    torch.manual_seed(cfg.seed)
    model = DecoderOnlyLM(V, d_model=cfg.d_model, num_heads=cfg.num_heads, d_ff=cfg.d_ff,
                          num_layers=cfg.num_layers, max_len=cfg.context_len)
    optimizer, scheduler = adam_with_warmup(model, cfg.lr, cfg.warmup_steps, cfg.num_steps)
    data = torch.Generator().manual_seed(cfg.seed)

    def next_batch():
        from transformer_reference.data import lm_batch

        x, y = lm_batch(train_ids, cfg.batch_size, cfg.context_len, data)
        return None, x, y

    trained_from = time.perf_counter()
    losses = fit(model, optimizer, next_batch, cfg.num_steps, vocab.pad_id, scheduler=scheduler, desc="char LM", progress=progress)
    trained = time.perf_counter()
    val_bpc = lm_bits_per_char(model, val_ids, cfg.context_len, cfg.eval_windows)
    sample = generate(model, torch.tensor([vocab.encode("Return the ")]), 80, temperature=0.8,
                      generator=torch.Generator().manual_seed(0), context_len=cfg.context_len)
    return {
        "corpus_chars": len(text), "vocab_size": V, "corpus_s": corpus_s, "train_s": trained - trained_from,
        "eval_s": time.perf_counter() - trained, "final_train_loss_bits": losses[-1] / 0.6931471805599453,
        "val_bpc": val_bpc, "unigram_bpc": unigram, "bigram_bpc": bigram,
        "sample": "".join(vocab.decode(sample[0])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true", help="the autograder's reduced schedule")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args()
    configure_torch()
    rev_cfg, lm_cfg = capstone_settings(reduced=args.reduced)
    schedule = "reduced (autograde)" if args.reduced else "full"
    print(f"schedule: {schedule}; torch {torch.__version__}, {NUM_THREADS} thread(s)")
    wall = time.perf_counter()
    a = reversal(rev_cfg, None if args.no_progress else sys.stdout)
    b = char_lm(lm_cfg, None if args.no_progress else sys.stdout)
    total = time.perf_counter() - wall
    print()
    print(f"(a) digit reversal, {rev_cfg.num_steps} steps: train {a['train_s']:.1f} s, eval {a['eval_s']:.1f} s, "
          f"final loss {a['final_loss']:.4f}, held-out exact match {a['exact_match']:.1%} (target >= 99 %)")
    print(f"(b) char LM on {b['corpus_chars']:,} docstring characters (V = {b['vocab_size']}), {lm_cfg.num_steps} steps: "
          f"corpus {b['corpus_s']:.1f} s, train {b['train_s']:.1f} s, eval {b['eval_s']:.1f} s")
    print(f"    validation bits/char: model {b['val_bpc']:.3f} | bigram {b['bigram_bpc']:.3f} | unigram {b['unigram_bpc']:.3f}")
    print(f"    sample (T = 0.8): {b['sample']!r}")
    print(f"total wall time {total:.1f} s")


if __name__ == "__main__":
    main()
