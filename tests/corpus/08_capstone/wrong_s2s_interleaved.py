"""Runs encoder and decoder blocks in lockstep: decoder block i reads encoder block i's output."""
# exercise: seq2seq_transformer
# verdict: wrong
class Seq2SeqTransformer(nn.Module):
    def __init__(self, src_vocab_size, tgt_vocab_size, d_model=64, num_heads=4, d_ff=128, num_layers=2,
                 max_len=64, pad_id=0):
        super().__init__()
        self.pad_id = pad_id
        self.src_embed = TokenEmbedding(src_vocab_size, d_model)
        self.tgt_embed = TokenEmbedding(tgt_vocab_size, d_model)
        self.positions = PositionalEncoding(d_model, max_len)
        self.encoder = nn.ModuleList([EncoderBlock(d_model, num_heads, d_ff) for _ in range(num_layers)])
        self.decoder = nn.ModuleList([DecoderBlock(d_model, num_heads, d_ff) for _ in range(num_layers)])
        self.output = OutputProjection(d_model, tgt_vocab_size, tied_weight=self.tgt_embed.weight)

    def encode(self, src):
        src_mask = padding_mask(src, self.pad_id)
        x = self.positions(self.src_embed(src))
        for block in self.encoder:
            x = block(x, src_mask)
        return x

    def decode(self, tgt, memory, src):
        T = tgt.shape[1]
        tgt_mask = causal_mask(T) & padding_mask(tgt, self.pad_id)
        memory_mask = padding_mask(src, self.pad_id)
        y = self.positions(self.tgt_embed(tgt))
        for block in self.decoder:
            y = block(y, memory, tgt_mask, memory_mask)
        return self.output(y)

    def forward(self, src, tgt):
        src_mask = padding_mask(src, self.pad_id)
        T = tgt.shape[1]
        tgt_mask = causal_mask(T) & padding_mask(tgt, self.pad_id)
        x = self.positions(self.src_embed(src))
        y = self.positions(self.tgt_embed(tgt))
        for enc, dec in zip(self.encoder, self.decoder):
            x = enc(x, src_mask)
            y = dec(y, x, tgt_mask, src_mask)
        return self.output(y)
