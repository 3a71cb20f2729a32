"""Uses dict.setdefault with the current size as the next id."""
# exercise: build_vocabulary
# verdict: correct
def build_vocabulary(tokens):
    vocab = {"<pad>": 0, "<unk>": 1}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    return vocab
