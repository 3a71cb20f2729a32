"""Puts a causal part into the cross-attention mask as well."""
# exercise: decoder_masks
# verdict: wrong
def decoder_masks(tgt_ids, src_ids, pad_id):
    T, S = tgt_ids.shape[1], src_ids.shape[1]
    tgt_mask = causal_mask(T) & padding_mask(tgt_ids, pad_id)
    memory_mask = torch.ones(T, S, dtype=torch.bool).tril() & padding_mask(src_ids, pad_id)
    return tgt_mask, memory_mask
