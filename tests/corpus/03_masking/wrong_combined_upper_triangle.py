"""Builds the causal part with triu, letting every query see the future instead of the past."""
# exercise: decoder_self_attention_mask
# verdict: wrong
import torch
def decoder_self_attention_mask(token_ids, pad_id):
    T = token_ids.shape[1]
    future = torch.ones(T, T, dtype=torch.bool).triu()
    return future & padding_mask(token_ids, pad_id)
