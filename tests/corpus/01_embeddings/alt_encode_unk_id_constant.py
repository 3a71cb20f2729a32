"""Uses the imported constant UNK_ID for unknown tokens instead of vocab[UNK_TOKEN] (the text allows either)."""
# exercise: encode
# verdict: correct
def encode(tokens, vocab):
    return [vocab[token] if token in vocab else UNK_ID for token in tokens]
