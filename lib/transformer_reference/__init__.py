"""transformer_reference — the course's reference implementation of the Transformer.

Notebooks import earlier components from here (so a student stuck on one notebook is
not blocked on the next), the grader uses it to build expected values, and instructors
can read it bottom-up, in lecture order:

    tokenizer -> embedding -> attention -> norm -> feedforward -> output -> blocks -> models

``numpy_reference`` repeats the core formulas in plain NumPy (float64) as a first
reading and as an independent oracle for the tests.

Dimension letters (used in every docstring and shape comment):

    B        batch size
    T        sequence length (number of positions)
    T_q, T_k number of queries / keys, when they differ (cross-attention)
    S        source length in an encoder-decoder model
    d_model  model width: the size of every token's vector between sublayers
    H        number of attention heads (``num_heads``)
    d_head   width of one head, d_model // H
    d_k, d_v width of a query/key vector and of a value vector
    V        vocabulary size
    d_ff     hidden width of the feed-forward network
    ...      any number of leading batch dimensions (including none)

Conventions: float32 and float64 inputs give outputs of the same dtype and device;
masks are bool with True = "may attend", broadcastable to (..., T_q, T_k); a bad
argument raises ValueError whose message names the argument; blocks are post-norm,
as in the lecture, unless ``norm_first=True``; there is no dropout.
"""

from . import attention, blocks, embedding, feedforward, models, norm, numpy_reference, output, tokenizer
from .attention import (
    MultiHeadAttention,
    causal_mask,
    merge_heads,
    padding_mask,
    scaled_dot_product_attention,
    softmax,
    split_heads,
)
from .blocks import DecoderBlock, EncoderBlock
from .embedding import (
    PositionalEncoding,
    TokenEmbedding,
    embedding_lookup,
    one_hot_embedding,
    sinusoidal_positional_encoding,
)
from .feedforward import FeedForward, MixtureOfExperts
from .models import DecoderOnlyLM, EncoderDecoder
from .norm import LayerNorm, ResidualNorm, add_and_norm, layer_norm
from .output import OutputProjection, sample_next_token, softmax_with_temperature
from .tokenizer import (
    PAD_ID,
    PAD_TOKEN,
    UNK_ID,
    UNK_TOKEN,
    Vocabulary,
    char_tokenize,
    pad_batch,
    word_tokenize,
)

__all__ = [
    # modules
    "attention",
    "blocks",
    "embedding",
    "feedforward",
    "models",
    "norm",
    "numpy_reference",
    "output",
    "tokenizer",
    # tokenizer
    "PAD_TOKEN",
    "UNK_TOKEN",
    "PAD_ID",
    "UNK_ID",
    "char_tokenize",
    "word_tokenize",
    "Vocabulary",
    "pad_batch",
    # embedding
    "embedding_lookup",
    "one_hot_embedding",
    "sinusoidal_positional_encoding",
    "TokenEmbedding",
    "PositionalEncoding",
    # attention
    "softmax",
    "scaled_dot_product_attention",
    "causal_mask",
    "padding_mask",
    "split_heads",
    "merge_heads",
    "MultiHeadAttention",
    # norm
    "layer_norm",
    "add_and_norm",
    "LayerNorm",
    "ResidualNorm",
    # feed-forward
    "FeedForward",
    "MixtureOfExperts",
    # output
    "OutputProjection",
    "softmax_with_temperature",
    "sample_next_token",
    # blocks and models
    "EncoderBlock",
    "DecoderBlock",
    "EncoderDecoder",
    "DecoderOnlyLM",
]
