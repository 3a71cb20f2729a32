"""Also hides the rows of padded target queries in both masks, which leaves those rows without any allowed key."""
# exercise: decoder_masks
# verdict: wrong
def decoder_masks(tgt_ids, src_ids, pad_id):
    T = tgt_ids.shape[1]
    real = tgt_ids != pad_id                                   # (B, T)
    tgt_mask = causal_mask(T) & real[:, None, :] & real[:, :, None]
    memory_mask = (src_ids != pad_id)[:, None, :] & real[:, :, None]
    return tgt_mask, memory_mask
