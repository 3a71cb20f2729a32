"""Computes the product in NumPy, which cuts the result off from autograd."""
# exercise: one_hot_embedding
# verdict: wrong
import numpy as np
def one_hot_embedding(token_ids, table):
    one_hot = np.eye(table.shape[0])[token_ids.numpy()]
    return torch.from_numpy(one_hot @ table.detach().double().numpy()).to(table.dtype)
