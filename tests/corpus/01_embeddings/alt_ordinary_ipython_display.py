"""Our solution, and imports IPython's display module (`from IPython import display`): ordinary Python never costs a point."""
# exercise: build_vocabulary
# verdict: correct
from IPython import display
def build_vocabulary(tokens):
    """Give every distinct token an integer id.

    tokens: list of str, for example word_tokenize(text)
    returns dict str -> int: PAD_TOKEN -> 0, UNK_TOKEN -> 1, then every distinct token of `tokens`
    in the order of its first appearance -> 2, 3, 4, ...
    """
    vocab = {PAD_TOKEN: PAD_ID, UNK_TOKEN: UNK_ID}
    for token in tokens:
        if token not in vocab:
            vocab[token] = len(vocab)  # the next free id
    return vocab
