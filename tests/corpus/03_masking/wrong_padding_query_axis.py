"""Puts the padding on the query axis, shape (B, T, 1)."""
# exercise: padding_mask
# verdict: wrong
def padding_mask(token_ids, pad_id):
    return (token_ids != pad_id).unsqueeze(-1)
