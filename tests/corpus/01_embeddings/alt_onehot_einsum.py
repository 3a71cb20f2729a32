"""Multiplies with einsum instead of @."""
# exercise: one_hot_embedding
# verdict: correct
def one_hot_embedding(token_ids, table):
    one_hot = F.one_hot(token_ids, num_classes=table.size(0)).type(table.dtype)
    return torch.einsum("...v,vd->...d", one_hot, table)
