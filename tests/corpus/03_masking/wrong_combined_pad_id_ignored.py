"""Compares the tokens with 0 instead of the pad_id argument."""
# exercise: decoder_self_attention_mask
# verdict: wrong
def decoder_self_attention_mask(token_ids, pad_id):
    T = token_ids.shape[1]
    return causal_mask(T) & padding_mask(token_ids, 0)
