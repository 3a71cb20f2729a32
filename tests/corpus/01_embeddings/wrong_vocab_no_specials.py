"""Forgets the reserved <pad> and <unk> entries and numbers the real tokens from 0."""
# exercise: build_vocabulary
# verdict: wrong
def build_vocabulary(tokens):
    vocab = {}
    for token in tokens:
        if token not in vocab:
            vocab[token] = len(vocab)
    return vocab
