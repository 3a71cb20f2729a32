"""Flattens the ids, uses index_select on the rows, and restores the shape."""
# exercise: embedding_lookup
# verdict: correct
def embedding_lookup(token_ids, table):
    rows = torch.index_select(table, 0, token_ids.reshape(-1))  # (N, d_model)
    return rows.reshape(*token_ids.shape, table.shape[1])
