"""Maps unknown tokens to 0 (the padding id) instead of the <unk> id."""
# exercise: encode
# verdict: wrong
def encode(tokens, vocab):
    return [vocab.get(token, 0) for token in tokens]
