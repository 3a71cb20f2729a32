"""Returns a collections.OrderedDict (a dict subclass), which the notebook's text allows."""
# exercise: build_vocabulary
# verdict: correct
from collections import OrderedDict
def build_vocabulary(tokens):
    vocab = OrderedDict([(PAD_TOKEN, PAD_ID), (UNK_TOKEN, UNK_ID)])
    for token in tokens:
        if token not in vocab:
            vocab[token] = len(vocab)
    return vocab
