"""Our solution, and imports an optional package in try/except: ordinary Python never costs a point."""
# exercise: one_hot_embedding
# verdict: correct
try:
    import einops
except ImportError:
    einops = None
def one_hot_embedding(token_ids, table):
    """The same lookup as a matrix product: one_hot(token_ids) @ table.

    token_ids: long (...), values in [0, V)
    table:     (V, d_model) float32 or float64
    returns (..., d_model) in the table's dtype, equal to embedding_lookup(token_ids, table)
    """
    V = table.shape[0]
    one_hot = F.one_hot(token_ids, num_classes=V).to(table.dtype)  # (..., V)
    return one_hot @ table  # (..., d_model)
