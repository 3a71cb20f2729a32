"""Builds a (B, T, T) mask that blocks padded queries as well as padded keys."""
# exercise: padding_mask
# verdict: wrong
def padding_mask(token_ids, pad_id):
    real = token_ids != pad_id
    return real[:, :, None] & real[:, None, :]
