"""Loops over the heads in float64 with finfo.min for masked scores, casts back, and prints the shapes."""
# exercise: cross_attention
# verdict: correct
def cross_attention(decoder_x, encoder_out, mha, src_mask=None):
    H = mha.num_heads
    d_head = decoder_x.shape[-1] // H
    q, k, v = mha.w_q(decoder_x).double(), mha.w_k(encoder_out).double(), mha.w_v(encoder_out).double()
    outs, all_weights = [], []
    for h in range(H):
        cols = slice(h * d_head, (h + 1) * d_head)
        scores = q[..., cols] @ k[..., cols].transpose(-1, -2) / d_head ** 0.5     # (B, T, S)
        if src_mask is not None:
            scores = scores.masked_fill(~src_mask, torch.finfo(torch.float64).min)
        w = torch.softmax(scores, dim=-1)
        outs.append(w @ v[..., cols])
        all_weights.append(w)
    weights = torch.stack(all_weights, dim=1).to(decoder_x.dtype)
    print("cross attention weights", tuple(weights.shape))
    return mha.w_o(torch.cat(outs, dim=-1).to(decoder_x.dtype)), weights
