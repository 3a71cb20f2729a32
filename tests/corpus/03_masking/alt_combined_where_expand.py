"""Expands the padding mask to (B, T, T) and uses torch.where with the causal mask."""
# exercise: decoder_self_attention_mask
# verdict: correct
def decoder_self_attention_mask(token_ids, pad_id):
    B, T = token_ids.shape
    keys = padding_mask(token_ids, pad_id).expand(B, T, T)
    return torch.where(causal_mask(T), keys, torch.zeros_like(keys))
