"""Assigns ids without checking for repeats, so a repeated token is renumbered at every appearance."""
# exercise: build_vocabulary
# verdict: wrong
def build_vocabulary(tokens):
    vocab = {PAD_TOKEN: 0, UNK_TOKEN: 1}
    for position, token in enumerate(tokens):
        vocab[token] = position + 2
    return vocab
