"""Writes forward in one method with a helper for the masks; encode and decode call the same helper."""
# exercise: seq2seq_transformer
# verdict: correct
def _masks(src, tgt, pad_id):
    src_keys = padding_mask(src, pad_id)                                   # (B, 1, S)
    if tgt is None:
        return src_keys, None
    T = tgt.shape[1]
    return src_keys, padding_mask(tgt, pad_id) & causal_mask(T).to(tgt.device)


class Seq2SeqTransformer(nn.Module):
    def __init__(self, src_vocab_size, tgt_vocab_size, d_model=64, num_heads=4, d_ff=128, num_layers=2,
                 max_len=64, pad_id=0):
        super().__init__()
        self.pad_id = pad_id
        self.src_embed = TokenEmbedding(src_vocab_size, d_model)
        self.tgt_embed = TokenEmbedding(tgt_vocab_size, d_model)
        self.positions = PositionalEncoding(d_model, max_len)
        self.encoder = nn.ModuleList(EncoderBlock(d_model, num_heads, d_ff) for _ in range(num_layers))
        self.decoder = nn.ModuleList(DecoderBlock(d_model, num_heads, d_ff) for _ in range(num_layers))
        self.output = OutputProjection(d_model, tgt_vocab_size, self.tgt_embed.weight)

    def encode(self, src):
        src_keys, _ = _masks(src, None, self.pad_id)
        h = self.positions(self.src_embed(src))
        for layer in self.encoder:
            h = layer(h, src_mask=src_keys)
        return h

    def decode(self, tgt, memory, src):
        src_keys, tgt_mask = _masks(src, tgt, self.pad_id)
        h = self.positions(self.tgt_embed(tgt))
        for layer in self.decoder:
            h = layer(h, memory, tgt_mask=tgt_mask, memory_mask=src_keys)
        return self.output(h)

    def forward(self, src, tgt):
        memory = self.encode(src)
        return self.decode(tgt, memory, src)
