"""Indexes the dict directly, so an unknown token raises KeyError."""
# exercise: encode
# verdict: wrong
def encode(tokens, vocab):
    return [vocab[token] for token in tokens]
