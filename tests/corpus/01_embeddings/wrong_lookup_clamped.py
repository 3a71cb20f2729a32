"""Clamps the ids to the first V - 1 rows, so the last token's row is never used."""
# exercise: embedding_lookup
# verdict: wrong
def embedding_lookup(token_ids, table):
    return table[token_ids.clamp(max=table.shape[0] - 2)]
