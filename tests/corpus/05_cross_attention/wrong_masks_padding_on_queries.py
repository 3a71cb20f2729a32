"""Hides padded target positions as queries (rows) instead of as keys (columns)."""
# exercise: decoder_masks
# verdict: wrong
def decoder_masks(tgt_ids, src_ids, pad_id):
    T = tgt_ids.shape[1]
    tgt_mask = causal_mask(T) & (tgt_ids != pad_id).unsqueeze(-1)
    return tgt_mask, padding_mask(src_ids, pad_id)
