"""Our solution, and checks sys.version_info: ordinary Python never costs a point."""
# exercise: sample_next_token
# verdict: correct
import sys
assert sys.version_info >= (3, 11)
def sample_next_token(logits, temperature=1.0, generator=None):
    """Pick one token id per row of logits: greedy for temperature 0, a random draw otherwise.

    logits:      (..., V) float32 or float64
    temperature: float >= 0; 0 means greedy (argmax)
    generator:   torch.Generator for the draws (None: PyTorch's global generator)
    returns (...) torch.long token ids. Raises ValueError naming `temperature` if temperature < 0.
    For temperature > 0 each id is drawn from softmax_with_temperature(logits, temperature).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1)                                      # greedy: no division by zero
    probs = softmax_with_temperature(logits, temperature)                 # (..., V)
    flat = probs.reshape(-1, probs.shape[-1])                             # (N, V): multinomial wants 2-D
    ids = torch.multinomial(flat, num_samples=1, generator=generator)     # (N, 1)
    return ids.reshape(logits.shape[:-1])                                 # (...)
