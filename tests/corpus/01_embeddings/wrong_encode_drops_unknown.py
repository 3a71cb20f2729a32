"""Skips tokens that are not in the vocabulary."""
# exercise: encode
# verdict: wrong
def encode(tokens, vocab):
    return [vocab[token] for token in tokens if token in vocab]
