"""Lets F.one_hot infer the number of classes from the ids, which is too small when the largest id is absent."""
# exercise: one_hot_embedding
# verdict: wrong
def one_hot_embedding(token_ids, table):
    return F.one_hot(token_ids).to(table.dtype) @ table
