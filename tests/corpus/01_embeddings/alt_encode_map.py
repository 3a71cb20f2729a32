"""map with a lambda and vocab["<unk>"] as the default."""
# exercise: encode
# verdict: correct
def encode(tokens, vocab):
    return list(map(lambda token: vocab.get(token, vocab["<unk>"]), tokens))
