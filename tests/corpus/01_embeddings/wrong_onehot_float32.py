"""Converts the one-hot vectors to float32 whatever the table's dtype."""
# exercise: one_hot_embedding
# verdict: wrong
def one_hot_embedding(token_ids, table):
    return F.one_hot(token_ids, table.shape[0]).float() @ table
