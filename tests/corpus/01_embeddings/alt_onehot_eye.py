"""Builds the one-hot vectors as rows of an identity matrix in the table's dtype."""
# exercise: one_hot_embedding
# verdict: correct
def one_hot_embedding(token_ids, table):
    one_hot = torch.eye(table.shape[0], dtype=table.dtype)[token_ids]  # (..., V)
    return one_hot @ table
