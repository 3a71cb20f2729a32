"""Returns the comparison as a long tensor of 0s and 1s."""
# exercise: padding_mask
# verdict: wrong
def padding_mask(token_ids, pad_id):
    return (token_ids != pad_id).long().unsqueeze(1)
