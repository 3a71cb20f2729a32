"""Deduplicates with dict.fromkeys (keeps first-seen order), numbers with enumerate(start=2), and prints the size."""
# exercise: build_vocabulary
# verdict: correct
def build_vocabulary(tokens):
    distinct = [t for t in dict.fromkeys(tokens) if t not in (PAD_TOKEN, UNK_TOKEN)]
    vocab = {PAD_TOKEN: PAD_ID, UNK_TOKEN: UNK_ID}
    vocab.update({token: i for i, token in enumerate(distinct, start=2)})
    print("vocabulary size:", len(vocab))
    return vocab
