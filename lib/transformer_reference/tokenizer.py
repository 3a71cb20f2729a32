"""Text -> tokens -> ids, and back: character and word tokenizers and a vocabulary."""

from __future__ import annotations

import re
from typing import Callable, Iterable

import torch

PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
PAD_ID = 0
UNK_ID = 1

# A word is a run of letters, digits or underscores; every other non-space
# character (punctuation) is a token of its own.
_WORD_OR_PUNCTUATION = re.compile(r"\w+|[^\w\s]")


def char_tokenize(text: str) -> list[str]:
    """Split text into characters: ``"hi!"`` -> ``["h", "i", "!"]``.

    Taught in: course/01_embeddings
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return list(text)


def word_tokenize(text: str) -> list[str]:
    """Lowercase, then split into words and punctuation: ``"Hi, you!"`` -> ``["hi", ",", "you", "!"]``.

    Taught in: course/01_embeddings
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return _WORD_OR_PUNCTUATION.findall(text.lower())


class Vocabulary:
    """Two-way map between tokens and integer ids.

    Id 0 is ``<pad>``, id 1 is ``<unk>``, then the given tokens in first-seen order,
    each once. Encoding a token the vocabulary has never seen gives ``<unk>``'s id.

    Attributes: ``token_to_id`` (dict), ``id_to_token`` (list), ``pad_id``, ``unk_id``.

    Taught in: course/01_embeddings
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        if isinstance(tokens, str):
            raise ValueError("tokens must be an iterable of tokens, not one str: tokenize the text first")
        self.id_to_token: list[str] = [PAD_TOKEN, UNK_TOKEN]
        self.token_to_id: dict[str, int] = {PAD_TOKEN: PAD_ID, UNK_TOKEN: UNK_ID}
        for token in tokens:
            if token not in self.token_to_id:
                self.token_to_id[token] = len(self.id_to_token)
                self.id_to_token.append(token)

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], tokenize: Callable[[str], list[str]] = char_tokenize
    ) -> "Vocabulary":
        """Build the vocabulary of every token in ``texts`` (a list of strings), in first-seen order."""
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings, not one str: wrap it as [text]")
        return cls(token for text in texts for token in tokenize(text))

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    def __len__(self) -> int:
        return len(self.id_to_token)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Tokens -> ids; unknown tokens -> ``unk_id``. (A str is read as its characters.)"""
        return [self.token_to_id.get(token, UNK_ID) for token in tokens]

    def decode(self, ids: Iterable[int] | torch.Tensor) -> list[str]:
        """Ids (list or 1-D tensor) -> tokens. ``"".join(...)`` them for character-level text."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        tokens = []
        for i in ids:
            if not 0 <= i < len(self.id_to_token):
                raise ValueError(f"ids must lie in [0, {len(self.id_to_token)}), got {i}")
            tokens.append(self.id_to_token[i])
        return tokens


def pad_batch(sequences: list[list[int]], pad_id: int = PAD_ID) -> torch.Tensor:
    """Right-pad id sequences of different lengths into one batch.

    Args:
        sequences: B lists of ids.
        pad_id: the filler id.

    Returns:
        long ``(B, T_max)``; row b is ``sequences[b]`` followed by ``pad_id`` up to the longest length.

    Taught in: course/01_embeddings (the padding mask that hides the filler: course/03_masking)
    """
    if len(sequences) == 0:
        raise ValueError("sequences must contain at least one sequence")
    longest = max(len(seq) for seq in sequences)
    batch = torch.full((len(sequences), longest), pad_id, dtype=torch.long)  # (B, T_max)
    for b, seq in enumerate(sequences):
        batch[b, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return batch
