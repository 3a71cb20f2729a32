"""Builds the memory mask from the target tokens instead of the source tokens."""
# exercise: decoder_masks
# verdict: wrong
def decoder_masks(tgt_ids, src_ids, pad_id):
    T = tgt_ids.shape[1]
    tgt_mask = causal_mask(T) & padding_mask(tgt_ids, pad_id)
    return tgt_mask, padding_mask(tgt_ids, pad_id)
