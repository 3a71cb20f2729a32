"""Caches the causal mask as a registered buffer and slices it, and keeps the blocks in ModuleLists built by extend."""
# exercise: seq2seq_transformer
# verdict: correct
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
        self.register_buffer("future_mask", torch.tril(torch.ones(max_len, max_len, dtype=torch.bool)))

    def encode(self, src):
        src_mask = padding_mask(src, self.pad_id)
        x = self.positions(self.src_embed(src))
        for block in self.encoder:
            x = block(x, src_mask)
        return x

    def decode(self, tgt, memory, src):
        T = tgt.shape[1]
        tgt_mask = self.future_mask[:T, :T] & padding_mask(tgt, self.pad_id)
        memory_mask = padding_mask(src, self.pad_id)
        y = self.positions(self.tgt_embed(tgt))
        for block in self.decoder:
            y = block(y, memory, tgt_mask, memory_mask)
        return self.output(y)

    def forward(self, src, tgt):
        return self.decode(tgt, self.encode(src), src)
