"""Returns the two masks in the wrong order (memory mask first)."""
# exercise: decoder_masks
# verdict: wrong
def decoder_masks(tgt_ids, src_ids, pad_id):
    T = tgt_ids.shape[1]
    tgt_mask = causal_mask(T) & padding_mask(tgt_ids, pad_id)
    return padding_mask(src_ids, pad_id), tgt_mask
