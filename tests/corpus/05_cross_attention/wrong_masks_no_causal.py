"""Uses only the target padding for self-attention and forgets the causal mask."""
# exercise: decoder_masks
# verdict: wrong
def decoder_masks(tgt_ids, src_ids, pad_id):
    T = tgt_ids.shape[1]
    tgt_mask = padding_mask(tgt_ids, pad_id).expand(-1, T, -1)
    return tgt_mask, padding_mask(src_ids, pad_id)
