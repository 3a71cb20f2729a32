"""Returns the causal mask expanded to the batch, forgetting the padding."""
# exercise: decoder_self_attention_mask
# verdict: wrong
def decoder_self_attention_mask(token_ids, pad_id):
    B, T = token_ids.shape
    return causal_mask(T).expand(B, T, T)
