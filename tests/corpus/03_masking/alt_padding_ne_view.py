"""torch.ne and a view to (B, 1, T)."""
# exercise: padding_mask
# verdict: correct
def padding_mask(token_ids, pad_id):
    B, T = token_ids.shape
    return torch.ne(token_ids, pad_id).view(B, 1, T)
