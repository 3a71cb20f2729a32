"""Uses each token's position in the list as its id, so repeated tokens leave gaps in the ids."""
# exercise: build_vocabulary
# verdict: wrong
def build_vocabulary(tokens):
    vocab = {PAD_TOKEN: 0, UNK_TOKEN: 1}
    for position, token in enumerate(tokens):
        if token not in vocab:
            vocab[token] = position + 2
    return vocab
