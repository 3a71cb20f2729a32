"""Data for the capstone: a digit-reversal task and a character corpus that needs no download.

- **Reversal** (for the encoder-decoder): the source is a string of digits of varying length,
  the target the same digits backwards. Every output position has to look at one particular
  source position, so the task cannot be solved without cross attention, and its
  cross-attention map is an anti-diagonal. Batches are padded with ``REVERSAL_PAD``.
- **Docstring corpus** (for the character language model): the docstrings of a fixed list of
  standard-library modules, so every Python installation has the same text (for one Python
  version; it is built from the running interpreter and needs no network).
- **Baselines** in bits per character: unigram and bigram models counted on the training split,
  for comparison with the language model's validation loss.

Taught in: course/08_capstone
"""

from __future__ import annotations

import importlib
import inspect
import math
import string
import warnings
import zlib
from collections.abc import Sequence

import torch

from ._checks import require_positive_int

# ---------------------------------------------------------------------------------------------
# Digit reversal
# ---------------------------------------------------------------------------------------------
REVERSAL_PAD = 0  # filler after the end of a short sequence; masked in attention, ignored in the loss
REVERSAL_BOS = 1  # "begin": the decoder's first input
REVERSAL_EOS = 2  # "end": the last target token; generation stops there
REVERSAL_DIGIT_OFFSET = 3  # digit d has id d + 3
REVERSAL_VOCAB_SIZE = REVERSAL_DIGIT_OFFSET + 10  # V = 13, shared by source and target
REVERSAL_TOKENS = ["<pad>", "<bos>", "<eos>", *string.digits]  # id -> printable token


def is_held_out(digits: Sequence[int]) -> bool:
    """True for the fixed ~10 % of digit strings reserved for evaluation (never trained on).

    The split is a hash of the string, so it is the same on every machine and for every seed,
    and a training batch can never contain an evaluation sequence.

    Taught in: course/08_capstone
    """
    return zlib.crc32(bytes(digits)) % 10 == 0


def reversal_examples(
    num_examples: int, min_len: int, max_len: int, held_out: bool, generator: torch.Generator
) -> list[list[int]]:
    """Draw ``num_examples`` digit strings (lists of ints 0..9) with lengths in ``[min_len, max_len]``.

    ``held_out`` picks the split: True draws only evaluation strings, False only training ones.

    Taught in: course/08_capstone
    """
    require_positive_int(num_examples, "num_examples")
    require_positive_int(min_len, "min_len")
    if max_len < min_len:
        raise ValueError(f"max_len must be >= min_len, got max_len={max_len}, min_len={min_len}")
    examples: list[list[int]] = []
    while len(examples) < num_examples:
        # About 10 % of draws are held out: draw enough that one round usually suffices.
        need = (12 if held_out else 2) * (num_examples - len(examples)) + 16
        lengths = torch.randint(min_len, max_len + 1, (need,), generator=generator)
        digits = torch.randint(0, 10, (need, max_len), generator=generator)
        for row, length in zip(digits.tolist(), lengths.tolist()):
            seq = row[:length]
            if is_held_out(seq) == held_out:
                examples.append(seq)
    return examples[:num_examples]


def encode_reversal(examples: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Turn digit strings into a padded batch ``(src, tgt_in, tgt_out)`` for teacher forcing.

    For the string 3 1 4 (ids 6 4 7):

        src     = 6 4 7            the digits
        tgt_in  = <bos> 7 4 6      what the decoder reads: <bos>, then the answer shifted right
        tgt_out = 7 4 6 <eos>      what it must predict at each position

    Returns long ``src (B, S_max)``, ``tgt_in (B, T_max)``, ``tgt_out (B, T_max)`` with
    ``T_max = S_max + 1``, right-padded with ``REVERSAL_PAD``.

    Taught in: course/08_capstone
    """
    if len(examples) == 0:
        raise ValueError("examples must contain at least one digit string")
    longest = max(len(seq) for seq in examples)
    B = len(examples)
    src = torch.full((B, longest), REVERSAL_PAD, dtype=torch.long)  # (B, S_max)
    tgt_in = torch.full((B, longest + 1), REVERSAL_PAD, dtype=torch.long)  # (B, T_max)
    tgt_out = torch.full((B, longest + 1), REVERSAL_PAD, dtype=torch.long)  # (B, T_max)
    for b, seq in enumerate(examples):
        ids = [d + REVERSAL_DIGIT_OFFSET for d in seq]
        rev = ids[::-1]
        src[b, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        tgt_in[b, : len(ids) + 1] = torch.tensor([REVERSAL_BOS, *rev], dtype=torch.long)
        tgt_out[b, : len(ids) + 1] = torch.tensor([*rev, REVERSAL_EOS], dtype=torch.long)
    return src, tgt_in, tgt_out


def reversal_batch(
    batch_size: int, min_len: int, max_len: int, generator: torch.Generator, held_out: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fresh padded batch ``(src, tgt_in, tgt_out)`` of training (or held-out) strings.

    Taught in: course/08_capstone
    """
    return encode_reversal(reversal_examples(batch_size, min_len, max_len, held_out, generator))


def decode_reversal(ids: Sequence[int] | torch.Tensor, stop_at_eos: bool = False) -> str:
    """Ids -> readable text, e.g. ``[1, 7, 4, 6, 2]`` -> ``"<bos>414<eos>"``; padding is dropped.

    With ``stop_at_eos``, everything after the first <eos> (what a decoder writes after it is done) is dropped.

    Taught in: course/08_capstone
    """
    if isinstance(ids, torch.Tensor):
        ids = ids.tolist()
    if stop_at_eos and REVERSAL_EOS in ids:
        ids = ids[: ids.index(REVERSAL_EOS) + 1]
    return "".join(REVERSAL_TOKENS[i] for i in ids if i != REVERSAL_PAD)


def exact_match(generated: torch.Tensor, tgt_out: torch.Tensor) -> torch.Tensor:
    """Per example, whether the generated answer equals the target exactly, up to and including <eos>.

    Args:
        generated: long ``(B, L)``, the predicted tokens after <bos> (at least the target's length;
            anything after the target's <eos> is ignored).
        tgt_out: long ``(B, T)``, the targets as from :func:`encode_reversal` (padded).

    Returns:
        bool ``(B,)``.

    Taught in: course/08_capstone
    """
    T = tgt_out.shape[1]
    if generated.shape[1] < T:
        raise ValueError(f"generated must have at least {T} positions (the target length), got {generated.shape[1]}")
    real = tgt_out != REVERSAL_PAD  # (B, T): positions up to and including <eos>
    same = (generated[:, :T] == tgt_out) | ~real  # (B, T)
    return same.all(dim=1)  # (B,)


# ---------------------------------------------------------------------------------------------
# Docstring corpus
# ---------------------------------------------------------------------------------------------
# Pure-Python or always-built-in modules that are in every CPython installation, are not
# deprecated, and import without side effects. Order matters (the validation split is the end).
DOCSTRING_MODULES = (
    "abc", "argparse", "ast", "base64", "bisect", "calendar", "cmd", "codecs", "collections",
    "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib",
    "email.message", "enum", "filecmp", "fnmatch", "fractions", "ftplib", "functools", "getopt",
    "gettext", "glob", "gzip", "hashlib", "heapq", "hmac", "html.parser", "http.client",
    "http.cookies", "http.server", "imaplib", "inspect", "ipaddress", "itertools", "json",
    "locale", "logging", "logging.handlers", "mailbox", "math", "mimetypes",
    "multiprocessing.pool", "netrc", "numbers", "operator", "optparse", "os", "pathlib", "pdb",
    "pickle", "pickletools", "platform", "plistlib", "poplib", "pprint", "profile", "pstats",
    "queue", "quopri", "random", "re", "reprlib", "sched", "secrets", "selectors", "shelve",
    "shlex", "shutil", "signal", "smtplib", "socket", "socketserver", "statistics",
    "string", "struct", "subprocess", "symtable", "tabnanny", "tarfile", "tempfile", "textwrap",
    "threading", "timeit", "tokenize", "trace", "traceback", "types", "typing",
    "unittest.case", "unittest.mock", "urllib.parse", "urllib.request", "uuid", "warnings",
    "wave", "weakref", "webbrowser", "xml.dom.minidom", "zipfile", "zipimport",
)

# The characters kept: printable ASCII and newline. Anything else (a rare accent or arrow) is
# dropped, so the vocabulary stays small and the same on every machine.
CORPUS_ALPHABET = frozenset(string.printable) - set("\r\x0b\x0c")


def _docstrings_of(module) -> list[str]:
    """The module's docstring, then those of its public classes, methods and functions, sorted by name."""
    docs = [module.__doc__]
    for name in sorted(vars(module)):
        if name.startswith("_"):
            continue
        obj = vars(module)[name]
        if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)):
            continue
        if getattr(obj, "__module__", None) not in (module.__name__, "_" + module.__name__):
            continue  # defined elsewhere (imported): counted with its own module, or not at all
        docs.append(obj.__doc__)
        if inspect.isclass(obj):
            for attr in sorted(vars(obj)):
                if not attr.startswith("_"):
                    docs.append(getattr(vars(obj)[attr], "__doc__", None))
    return docs


def docstring_corpus(modules: Sequence[str] = DOCSTRING_MODULES) -> str:
    """The docstrings of ``modules``, cleaned up and joined by blank lines: a text of ~1 MB.

    Deterministic for a given Python version. A module that cannot be imported (a stripped-down
    installation) is skipped. Docstrings are dedented (``inspect.cleandoc``), characters outside
    ``CORPUS_ALPHABET`` are dropped, and each docstring appears once. Under ``python -OO``
    docstrings are stripped and the corpus is empty (a ValueError says so).

    Taught in: course/08_capstone
    """
    seen: set[str] = set()
    parts: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few modules warn about deprecated names on attribute access
        for module_name in modules:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            for doc in _docstrings_of(module):
                if not isinstance(doc, str):
                    continue
                text = "".join(ch for ch in inspect.cleandoc(doc) if ch in CORPUS_ALPHABET).strip()
                if len(text) >= 40 and text not in seen:  # skip one-liners like "Return self."
                    seen.add(text)
                    parts.append(text)
    corpus = "\n\n".join(parts) + "\n"
    if len(corpus) < 1000:
        raise ValueError("the docstring corpus is (almost) empty: is Python running with -OO?")
    return corpus


def split_corpus(ids: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a 1-D id tensor into its first (training) and last ``val_fraction`` (validation) part.

    Taught in: course/08_capstone
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    n_train = int(len(ids) * (1.0 - val_fraction))
    return ids[:n_train], ids[n_train:]


def lm_batch(
    ids: torch.Tensor, batch_size: int, context_len: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of a 1-D id tensor: inputs ``x (B, T)`` and targets ``y (B, T)``, y shifted by one.

    ``y[b, t] = x[b, t + 1]``: at every position the model predicts the next character.

    Taught in: course/08_capstone
    """
    require_positive_int(context_len, "context_len")
    if len(ids) <= context_len:
        raise ValueError(f"ids must be longer than context_len={context_len}, got {len(ids)} ids")
    starts = torch.randint(0, len(ids) - context_len, (batch_size,), generator=generator)  # (B,)
    offsets = torch.arange(context_len + 1)  # (T + 1,)
    windows = ids[starts[:, None] + offsets]  # (B, T + 1)
    return windows[:, :-1], windows[:, 1:]  # (B, T), (B, T)


# ---------------------------------------------------------------------------------------------
# Count baselines, in bits per character
# ---------------------------------------------------------------------------------------------
def unigram_bits_per_char(train: torch.Tensor, val: torch.Tensor, vocab_size: int, alpha: float = 1.0) -> float:
    """Cross-entropy (bits per character) on ``val`` of character frequencies counted on ``train``.

    p(c) = (count(c) + alpha) / (N + alpha V): add-alpha smoothing so unseen characters cost a finite amount.
    Like :func:`bigram_bits_per_char`, it scores ``val[1:]``.

    Taught in: course/08_capstone
    """
    counts = torch.bincount(train, minlength=vocab_size).double() + alpha  # (V,)
    log_p = counts.log() - counts.sum().log()  # (V,)
    return float(-log_p[val[1:]].mean() / math.log(2))


def bigram_bits_per_char(train: torch.Tensor, val: torch.Tensor, vocab_size: int, alpha: float = 0.1) -> float:
    """Cross-entropy (bits per character) on ``val`` of p(next | current) counted on ``train``.

    p(b | a) = (count(a b) + alpha) / (count(a) + alpha V). The first validation character has no
    predecessor inside ``val`` and is not scored (as for the language model, which scores
    ``val[1:]`` given what came before).

    Taught in: course/08_capstone
    """
    pairs = train[:-1] * vocab_size + train[1:]
    counts = torch.bincount(pairs, minlength=vocab_size * vocab_size).double().reshape(vocab_size, vocab_size) + alpha
    log_p = counts.log() - counts.sum(dim=1, keepdim=True).log()  # (V, V): row = current character
    return float(-log_p[val[:-1], val[1:]].mean() / math.log(2))
