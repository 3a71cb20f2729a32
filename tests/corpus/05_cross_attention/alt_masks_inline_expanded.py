"""Builds the triangle with torch.tril and returns both masks fully expanded to (B, T, T) and (B, T, S)."""
# exercise: decoder_masks
# verdict: correct
def decoder_masks(tgt_ids, src_ids, pad_id):
    B, T = tgt_ids.shape
    S = src_ids.shape[1]
    lower = torch.tril(torch.ones(T, T)).bool()
    tgt_keys = tgt_ids.ne(pad_id).view(B, 1, T)
    src_keys = src_ids.ne(pad_id).view(B, 1, S)
    return torch.logical_and(lower, tgt_keys), src_keys.expand(B, T, S).clone()
