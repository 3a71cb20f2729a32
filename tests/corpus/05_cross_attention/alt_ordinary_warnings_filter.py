"""Our solution, and filters a warning category: ordinary Python never costs a point."""
# exercise: decoder_masks
# verdict: correct
import warnings
warnings.filterwarnings('ignore', category=DeprecationWarning)
def decoder_masks(tgt_ids, src_ids, pad_id):
    """The masks of a decoder block (bool, True = may attend).

    tgt_ids: (B, T) long target tokens; src_ids: (B, S) long source tokens; pad_id: the padding id.
    returns (tgt_mask, memory_mask):
        tgt_mask    (B, T, T): causal AND the target key is not padding (for self-attention)
        memory_mask (B, 1, S): the source key is not padding (for cross attention; no causal part)
    """
    T = tgt_ids.shape[1]
    tgt_mask = causal_mask(T) & padding_mask(tgt_ids, pad_id)   # (T, T) & (B, 1, T) -> (B, T, T)
    memory_mask = padding_mask(src_ids, pad_id)                  # (B, 1, S)
    return tgt_mask, memory_mask
