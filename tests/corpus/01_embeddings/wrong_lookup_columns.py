"""Indexes columns and transposes, which only gives the right shape for a single sentence (T,)."""
# exercise: embedding_lookup
# verdict: wrong
def embedding_lookup(token_ids, table):
    return table[:, token_ids].T
