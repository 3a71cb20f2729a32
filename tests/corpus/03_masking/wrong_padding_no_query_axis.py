"""Returns (B, T) without the singleton query axis."""
# exercise: padding_mask
# verdict: wrong
def padding_mask(token_ids, pad_id):
    return token_ids != pad_id
