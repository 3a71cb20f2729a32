"""transformer_reference.tokenizer: tokenizers, the vocabulary's ids, round trips and padding."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_reference.tokenizer import (
    PAD_ID,
    PAD_TOKEN,
    UNK_ID,
    UNK_TOKEN,
    Vocabulary,
    char_tokenize,
    pad_batch,
    word_tokenize,
)

pytestmark = [pytest.mark.filterwarnings("error"), pytest.mark.usefixtures("single_threaded_torch")]
PROPERTIES = settings(max_examples=50, deadline=None, database=None)


def test_tokenizers():
    assert char_tokenize("hi!") == ["h", "i", "!"]
    assert word_tokenize("Hello, World! It's 42.") == ["hello", ",", "world", "!", "it", "'", "s", "42", "."]
    assert word_tokenize("") == []


def test_vocabulary_ids_are_pad_unk_then_first_seen_order():
    vocab = Vocabulary(["b", "a", "b", "c"])
    assert (PAD_ID, UNK_ID) == (0, 1) and (vocab.pad_id, vocab.unk_id) == (0, 1)
    assert vocab.id_to_token == [PAD_TOKEN, UNK_TOKEN, "b", "a", "c"]
    assert vocab.token_to_id == {PAD_TOKEN: 0, UNK_TOKEN: 1, "b": 2, "a": 3, "c": 4}
    assert len(vocab) == 5


def test_unknown_tokens_encode_to_unk():
    vocab = Vocabulary.from_texts(["abc"])
    assert vocab.encode(["a", "z", "c"]) == [2, UNK_ID, 4]
    assert vocab.decode([2, UNK_ID, 4]) == ["a", UNK_TOKEN, "c"]


def test_from_texts_with_word_tokenizer():
    vocab = Vocabulary.from_texts(["The cat.", "the dog"], tokenize=word_tokenize)
    assert vocab.id_to_token[2:] == ["the", "cat", ".", "dog"]


@given(texts=st.lists(st.text(max_size=20), min_size=1, max_size=4))
@PROPERTIES
def test_char_round_trip(texts):
    vocab = Vocabulary.from_texts(texts)
    for text in texts:
        ids = vocab.encode(char_tokenize(text))
        assert "".join(vocab.decode(ids)) == text
        assert "".join(vocab.decode(torch.tensor(ids, dtype=torch.long))) == text


@given(words=st.lists(st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True), min_size=1, max_size=8))
@PROPERTIES
def test_word_round_trip(words):
    text = " ".join(words)
    vocab = Vocabulary.from_texts([text], tokenize=word_tokenize)
    assert " ".join(vocab.decode(vocab.encode(word_tokenize(text)))) == text


def test_pad_batch():
    batch = pad_batch([[5, 6, 7], [8], []])
    assert batch.dtype == torch.long
    assert batch.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID], [PAD_ID, PAD_ID, PAD_ID]]
    assert pad_batch([[1], [2, 3]], pad_id=9).tolist() == [[1, 9], [2, 3]]


def test_bad_arguments_raise_value_error_naming_the_argument():
    with pytest.raises(ValueError, match="texts"):
        Vocabulary.from_texts("abc")
    with pytest.raises(ValueError, match="tokens"):
        Vocabulary("abc")
    with pytest.raises(ValueError, match="ids"):
        Vocabulary(["a"]).decode([3])
    with pytest.raises(ValueError, match="sequences"):
        pad_batch([])
    with pytest.raises(ValueError, match="text"):
        word_tokenize(["a"])
