"""torch.logical_and of the two masks, written without the helper functions."""
# exercise: decoder_self_attention_mask
# verdict: correct
def decoder_self_attention_mask(token_ids, pad_id):
    T = token_ids.size(1)
    future_ok = torch.ones(T, T, dtype=torch.bool).tril()
    keys_ok = (token_ids != pad_id)[:, None, :]
    return torch.logical_and(future_ok, keys_ok)
