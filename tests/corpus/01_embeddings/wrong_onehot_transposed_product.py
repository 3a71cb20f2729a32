"""Multiplies the table by the one-hot matrix in the wrong order (table.T @ one_hot.T), for 1-D ids only."""
# exercise: one_hot_embedding
# verdict: wrong
def one_hot_embedding(token_ids, table):
    one_hot = F.one_hot(token_ids.reshape(-1), num_classes=table.shape[0]).to(table.dtype)
    return (table.T @ one_hot.T).T
