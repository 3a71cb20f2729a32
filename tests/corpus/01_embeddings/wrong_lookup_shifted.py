"""Thinks ids start at 1 and looks up row id - 1."""
# exercise: embedding_lookup
# verdict: wrong
def embedding_lookup(token_ids, table):
    return table[token_ids - 1]
