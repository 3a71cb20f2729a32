"""Compares the ids with 0 instead of pad_id."""
# exercise: decoder_masks
# verdict: wrong
def decoder_masks(tgt_ids, src_ids, pad_id):
    T = tgt_ids.shape[1]
    return causal_mask(T) & (tgt_ids != 0)[:, None, :], (src_ids != 0)[:, None, :]
