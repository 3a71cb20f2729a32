"""Numbers the distinct tokens in alphabetical order instead of the order of first appearance."""
# exercise: build_vocabulary
# verdict: wrong
def build_vocabulary(tokens):
    vocab = {PAD_TOKEN: PAD_ID, UNK_TOKEN: UNK_ID}
    for token in sorted(set(tokens)):
        vocab[token] = len(vocab)
    return vocab
