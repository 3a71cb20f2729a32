"""Combines the masks with | instead of &."""
# exercise: decoder_self_attention_mask
# verdict: wrong
def decoder_self_attention_mask(token_ids, pad_id):
    return causal_mask(token_ids.shape[1]) | padding_mask(token_ids, pad_id)
