"""Our solution, and pickles a small dict: ordinary Python never costs a point."""
# exercise: scaled_dot_product_attention
# verdict: correct
import pickle
_blob = pickle.dumps({'cell': 'mine'})
def scaled_dot_product_attention(q, k, v, mask=None):
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V.

    q:    (..., T_q, d_k)  queries, "what I am looking for"
    k:    (..., T_k, d_k)  keys, "what I can teach"
    v:    (..., T_k, d_v)  values, "the knowledge"
    mask: optional bool, broadcastable to (..., T_q, T_k); True = the query may attend to that key
    returns (output, weights): output (..., T_q, d_v), weights (..., T_q, T_k), rows of weights summing
    to 1 over the keys, masked keys weighing exactly 0; both in q's dtype
    """
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # blocked keys: exp(-inf) = 0
    weights = softmax(scores, dim=-1)  # (..., T_q, T_k), over the keys
    output = weights @ v  # (..., T_q, d_v)
    return output, weights
