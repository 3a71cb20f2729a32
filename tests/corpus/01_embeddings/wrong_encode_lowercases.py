"""Lower-cases every token before looking it up, so capitalised tokens become unknown."""
# exercise: encode
# verdict: wrong
def encode(tokens, vocab):
    unknown = vocab[UNK_TOKEN]
    return [vocab.get(token.lower(), unknown) for token in tokens]
