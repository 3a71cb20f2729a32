"""Builds the mask row by row in a loop, with a warnings.warn when a sentence is all padding."""
# exercise: padding_mask
# verdict: correct
import warnings
def padding_mask(token_ids, pad_id):
    rows = []
    for sentence in token_ids:
        row = torch.tensor([int(t) != pad_id for t in sentence], dtype=torch.bool)
        if not row.any():
            warnings.warn("a sentence made only of padding")
        rows.append(row)
    return torch.stack(rows).unsqueeze(1)
