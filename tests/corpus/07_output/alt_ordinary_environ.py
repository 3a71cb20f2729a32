"""Our solution, and reads an environment variable: ordinary Python never costs a point."""
# exercise: softmax_with_temperature
# verdict: correct
import os
_home = os.environ.get('HOME', '')
def softmax_with_temperature(logits, temperature=1.0):
    """Probabilities softmax(logits / temperature) over the last axis (the vocabulary).

    logits:      (..., V) float32 or float64
    temperature: float > 0; below 1 sharpens, above 1 flattens the distribution
    returns (..., V) with the dtype of logits; every row sums to 1 and is finite, even for
    a tiny temperature and huge logits. Raises ValueError naming `temperature` if temperature <= 0.

    p_i = exp(z_i / T) / sum_j exp(z_j / T), computed as exp((z_i - max z) / T) / sum_j exp((z_j - max z) / T).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature} (temperature 0 is greedy decoding)")
    scaled = logits / temperature                            # (..., V)
    scaled = scaled - scaled.amax(dim=-1, keepdim=True)      # the largest becomes 0: exp cannot overflow
    weights = torch.exp(scaled)
    return weights / weights.sum(dim=-1, keepdim=True)
