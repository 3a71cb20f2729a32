"""An explicit loop with a membership test, using the UNK_ID constant."""
# exercise: encode
# verdict: correct
def encode(tokens, vocab):
    ids = []
    for token in tokens:
        if token in vocab:
            ids.append(vocab[token])
        else:
            ids.append(UNK_ID)
    return ids
