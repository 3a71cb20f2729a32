"""Our solution, and makes a logger: ordinary Python never costs a point."""
# exercise: layer_norm
# verdict: correct
import logging
_log = logging.getLogger('mine')
def layer_norm(x, gamma, beta, eps=1e-5):
    """Normalise every token over its features, then scale by gamma and shift by beta.

    x:     (..., d_model) float32 or float64
    gamma: (d_model,) learned scale
    beta:  (d_model,) learned shift
    eps:   added to the variance inside the square root
    returns (..., d_model) with the dtype of x

    LN(x) = gamma * (x - mean) / sqrt(var + eps) + beta, with the mean and the biased variance
    (divide by d_model) taken over the last axis. Raises ValueError naming `gamma` or `beta`
    if its shape is not (d_model,).
    """
    d_model = x.shape[-1]
    if tuple(gamma.shape) != (d_model,):
        raise ValueError(f"gamma must have shape ({d_model},), the size of the last axis of x; got {tuple(gamma.shape)}")
    if tuple(beta.shape) != (d_model,):
        raise ValueError(f"beta must have shape ({d_model},), the size of the last axis of x; got {tuple(beta.shape)}")
    mean = x.mean(dim=-1, keepdim=True)                  # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)   # (..., 1), biased: divides by d_model
    x_hat = (x - mean) / torch.sqrt(var + eps)           # (..., d_model)
    return gamma * x_hat + beta
_log.debug('defined')
