"""Multiplies the looked-up rows by sqrt(d_model), which this exercise does not ask for."""
# exercise: embedding_lookup
# verdict: wrong
def embedding_lookup(token_ids, table):
    return table[token_ids] * math.sqrt(table.shape[1])
