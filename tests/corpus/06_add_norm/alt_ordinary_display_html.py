"""Our solution, and displays HTML: ordinary Python never costs a point."""
# exercise: add_and_norm
# verdict: correct
from IPython.display import HTML, display
def add_and_norm(x, sublayer_out, gamma, beta, eps=1e-5):
    """The lecture's Add & Norm (post-norm): layer_norm(x + sublayer_out).

    x:            (..., d_model) the sublayer's input, carried by the residual connection
    sublayer_out: (..., d_model) what the sublayer computed from x
    gamma, beta:  (d_model,) the norm's learned scale and shift; eps as in layer_norm
    returns (..., d_model) with the dtype of x
    """
    return layer_norm(x + sublayer_out, gamma, beta, eps)
display(HTML('<i>defined</i>'))
