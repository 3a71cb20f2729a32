"""Two small complete models built from the library's blocks.

- :class:`EncoderDecoder`: the original Transformer (e.g. for translation or copying).
- :class:`DecoderOnlyLM`: a GPT-style language model.

Both use the lecture's post-norm blocks, scaled token embeddings plus sinusoidal
positions, and an output projection tied to the (target) embedding matrix.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import causal_mask, padding_mask
from .blocks import DecoderBlock, EncoderBlock
from .embedding import PositionalEncoding, TokenEmbedding
from .output import OutputProjection, sample_next_token


class EncoderDecoder(nn.Module):
    """Encoder stack reads the source; decoder stack writes the target one token at a time.

    Args:
        src_vocab_size, tgt_vocab_size: V_src, V_tgt.
        d_model, num_heads, d_ff, num_layers: sizes (num_layers blocks in each stack).
        max_len: longest source or target sequence.
        pad_id: padding id in both vocabularies; padded keys are masked out.

    encode(src long ``(B, S)``) -> memory ``(B, S, d_model)``;
    decode(tgt long ``(B, T)``, memory, src) -> logits ``(B, T, V_tgt)``;
    forward(src, tgt) = decode(tgt, encode(src), src).

    Taught in: course/08_capstone
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        d_model: int = 64,
        num_heads: int = 4,
        d_ff: int = 128,
        num_layers: int = 2,
        max_len: int = 128,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.max_len = max_len
        self.src_embed = TokenEmbedding(src_vocab_size, d_model)
        self.tgt_embed = TokenEmbedding(tgt_vocab_size, d_model)
        self.positions = PositionalEncoding(d_model, max_len)
        self.encoder = nn.ModuleList(EncoderBlock(d_model, num_heads, d_ff) for _ in range(num_layers))
        self.decoder = nn.ModuleList(DecoderBlock(d_model, num_heads, d_ff) for _ in range(num_layers))
        self.output = OutputProjection(d_model, tgt_vocab_size, tied_weight=self.tgt_embed.weight)

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        src_mask = padding_mask(src, self.pad_id)  # (B, 1, S): queries ignore padded source keys
        x = self.positions(self.src_embed(src))  # (B, S, d_model)
        for block in self.encoder:
            x = block(x, src_mask)
        return x  # (B, S, d_model)

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        T = tgt.shape[1]
        # Position t sees targets 0..t only, and never padding.
        tgt_mask = causal_mask(T).to(tgt.device) & padding_mask(tgt, self.pad_id)  # (B, T, T)
        memory_mask = padding_mask(src, self.pad_id)  # (B, 1, S)
        x = self.positions(self.tgt_embed(tgt))  # (B, T, d_model)
        for block in self.decoder:
            x = block(x, memory, tgt_mask, memory_mask)
        return self.output(x)  # (B, T, V_tgt)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        return self.decode(tgt, self.encode(src), src)  # (B, T, V_tgt)

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, bos_id: int, max_len: int) -> torch.Tensor:
        """Translate ``src`` ``(B, S)`` by always taking the most likely next token.

        Returns long ``(B, max_len)``: ``bos_id`` followed by ``max_len - 1`` generated ids
        (no early stop; cut at your end-of-sequence id afterwards).
        """
        memory = self.encode(src)  # encoded once, reused at every step
        ys = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)  # (B, 1)
        for _ in range(max_len - 1):
            logits = self.decode(ys, memory, src)  # (B, t, V_tgt)
            next_id = logits[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
            ys = torch.cat([ys, next_id], dim=1)  # (B, t + 1)
        return ys


class DecoderOnlyLM(nn.Module):
    """GPT-style language model: predicts token t+1 from tokens 0..t.

    Its blocks are :class:`EncoderBlock` with a causal mask: with no encoder to
    cross-attend to, a decoder block reduces to masked self-attention + feed-forward.

    Args:
        vocab_size: V.
        d_model, num_heads, d_ff, num_layers: sizes.
        max_len: context length (longest input; generate() keeps the last max_len tokens).

    forward(ids long ``(B, T)``) -> logits ``(B, T, V)``.

    Taught in: course/08_capstone
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 64,
        num_heads: int = 4,
        d_ff: int = 256,
        num_layers: int = 2,
        max_len: int = 128,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.embed = TokenEmbedding(vocab_size, d_model)
        self.positions = PositionalEncoding(d_model, max_len)
        self.blocks = nn.ModuleList(EncoderBlock(d_model, num_heads, d_ff) for _ in range(num_layers))
        self.output = OutputProjection(d_model, vocab_size, tied_weight=self.embed.weight)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        mask = causal_mask(T).to(ids.device)  # (T, T), shared by the batch and the heads
        x = self.positions(self.embed(ids))  # (B, T, d_model)
        for block in self.blocks:
            x = block(x, mask)
        return self.output(x)  # (B, T, V)

    @torch.no_grad()
    def generate(
        self,
        ids: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Extend ``ids`` ``(B, T)`` by ``max_new_tokens`` sampled tokens -> long ``(B, T + max_new_tokens)``.

        ``temperature`` and ``generator`` are passed to
        :func:`~transformer_reference.output.sample_next_token` (temperature 0 = greedy).
        """
        for _ in range(max_new_tokens):
            context = ids[:, -self.max_len :]  # the positional encoding only covers max_len positions
            logits = self(context)[:, -1]  # (B, V): only the last position predicts the new token
            next_id = sample_next_token(logits, temperature, generator)  # (B,)
            ids = torch.cat([ids, next_id.unsqueeze(1)], dim=1)  # (B, T + 1)
        return ids
