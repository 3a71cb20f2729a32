"""The corpus of graded variants (tests/corpus/, graded in tests/e2e/test_corpus.py) is well-formed."""

from tools import corpus


def test_corpus_files_are_complete():
    """Every corpus file names its exercise and verdict and says in a sentence what it does."""
    variants = corpus.load_corpus()
    assert variants, "tests/corpus/ holds no variants"
    kinds = {v.verdict for v in variants}
    assert {"wrong", "correct", "delegates", "cheats"} <= kinds
