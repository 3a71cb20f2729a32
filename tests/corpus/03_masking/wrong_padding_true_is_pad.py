"""Marks the padding with True (token == pad_id), the opposite convention."""
# exercise: padding_mask
# verdict: wrong
def padding_mask(token_ids, pad_id):
    return (token_ids == pad_id).unsqueeze(1)
