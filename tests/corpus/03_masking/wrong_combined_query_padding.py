"""Applies the padding to the queries (rows) instead of the keys (columns)."""
# exercise: decoder_self_attention_mask
# verdict: wrong
def decoder_self_attention_mask(token_ids, pad_id):
    T = token_ids.shape[1]
    return causal_mask(T) & padding_mask(token_ids, pad_id).transpose(1, 2)
