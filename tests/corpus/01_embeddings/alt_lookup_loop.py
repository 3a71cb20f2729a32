"""Stacks the rows one id at a time in a Python loop."""
# exercise: embedding_lookup
# verdict: correct
def embedding_lookup(token_ids, table):
    flat = [table[i] for i in token_ids.reshape(-1).tolist()]
    if not flat:
        return table.new_zeros(*token_ids.shape, table.shape[1])
    return torch.stack(flat).reshape(*token_ids.shape, table.shape[1])
