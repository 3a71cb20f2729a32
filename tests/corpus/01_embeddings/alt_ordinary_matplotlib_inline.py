"""Our solution, and switches %matplotlib inline on: ordinary Python never costs a point."""
# exercise: encode
# verdict: correct
%matplotlib inline
def encode(tokens, vocab):
    """Replace every token by its id.

    tokens: list of str
    vocab:  dict str -> int, as built by build_vocabulary
    returns list of int, one id per token; a token that is not in vocab gets vocab[UNK_TOKEN]
    """
    unknown = vocab[UNK_TOKEN]
    return [vocab.get(token, unknown) for token in tokens]
