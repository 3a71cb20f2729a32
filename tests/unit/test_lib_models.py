"""transformer_reference.models: shapes, masking, decoding, and that they can learn."""

from __future__ import annotations

import pytest
import torch

from transformer_reference.models import DecoderOnlyLM, EncoderDecoder

pytestmark = [pytest.mark.filterwarnings("error"), pytest.mark.usefixtures("single_threaded_torch")]


def small_encoder_decoder(seed=0):
    torch.manual_seed(seed)
    return EncoderDecoder(10, 12, d_model=16, num_heads=2, d_ff=32, num_layers=2, max_len=20)


def small_lm(seed=0):
    torch.manual_seed(seed)
    return DecoderOnlyLM(11, d_model=16, num_heads=2, d_ff=32, num_layers=2, max_len=12)


def test_encoder_decoder_shapes(dtype):
    model = small_encoder_decoder().to(dtype)
    src = torch.randint(2, 10, (3, 7))
    tgt = torch.randint(2, 12, (3, 5))
    memory = model.encode(src)
    assert memory.shape == (3, 7, 16) and memory.dtype == dtype
    logits = model(src, tgt)
    assert logits.shape == (3, 5, 12) and logits.dtype == dtype
    torch.testing.assert_close(logits, model.decode(tgt, memory, src))


def test_output_projection_is_tied_to_the_target_embedding():
    model = small_encoder_decoder()
    assert model.output.weight is model.tgt_embed.weight
    lm = small_lm()
    assert lm.output.weight is lm.embed.weight


def test_source_padding_does_not_change_the_result():
    model = small_encoder_decoder()
    src = torch.tensor([[3, 4, 5]])
    padded = torch.tensor([[3, 4, 5, 0, 0]])
    tgt = torch.tensor([[1, 6, 7]])
    torch.testing.assert_close(model(padded, tgt), model(src, tgt), rtol=1e-5, atol=1e-5)


def test_decoder_is_causal():
    model = small_encoder_decoder()
    src = torch.randint(2, 10, (2, 6))
    tgt = torch.randint(2, 12, (2, 5))
    changed = tgt.clone()
    changed[:, 3:] = torch.randint(2, 12, (2, 2))
    torch.testing.assert_close(model(src, changed)[:, :3], model(src, tgt)[:, :3])


def test_greedy_decode_takes_the_argmax_at_every_step():
    model = small_encoder_decoder()
    src = torch.randint(2, 10, (2, 6))
    out = model.greedy_decode(src, bos_id=1, max_len=6)
    assert out.shape == (2, 6) and out.dtype == torch.long
    assert (out[:, 0] == 1).all()
    logits = model(src, out[:, :-1])
    assert torch.equal(out[:, 1:], logits.argmax(-1))


def test_lm_is_causal_and_generates(dtype):
    model = small_lm().to(dtype)
    ids = torch.randint(0, 11, (2, 6))
    logits = model(ids)
    assert logits.shape == (2, 6, 11) and logits.dtype == dtype
    changed = ids.clone()
    changed[:, 4:] = (ids[:, 4:] + 1) % 11
    torch.testing.assert_close(model(changed)[:, :4], logits[:, :4])

    first = model.generate(ids, 10, temperature=0.8, generator=torch.Generator().manual_seed(3))
    second = model.generate(ids, 10, temperature=0.8, generator=torch.Generator().manual_seed(3))
    assert first.shape == (2, 16) and torch.equal(first, second)
    assert torch.equal(first[:, :6], ids)  # longer than max_len=12: the context window slides


def test_lm_greedy_generation_is_the_argmax():
    model = small_lm()
    ids = torch.randint(0, 11, (2, 3))
    out = model.generate(ids, 4, temperature=0)
    assert torch.equal(out[:, 3:], model(out[:, :-1])[:, 2:].argmax(-1))


def test_lm_learns_a_repeating_sequence():
    model = small_lm()
    ids = torch.arange(12).remainder(4).unsqueeze(0) + 2  # 2 3 4 5 2 3 4 5 ...
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        logits = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 11), ids[:, 1:].reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.1
    assert model.generate(ids[:, :2], 6, temperature=0).tolist() == [[2, 3, 4, 5, 2, 3, 4, 5]]


def test_encoder_decoder_learns_to_copy():
    model = small_encoder_decoder()
    g = torch.Generator().manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        src = torch.randint(2, 10, (32, 5), generator=g)
        tgt = torch.cat([torch.ones(32, 1, dtype=torch.long), src], dim=1)  # BOS = 1, then the copy
        logits = model(src, tgt[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 12), tgt[:, 1:].reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    src = torch.randint(2, 10, (16, 5), generator=g)
    accuracy = (model.greedy_decode(src, bos_id=1, max_len=6)[:, 1:] == src).double().mean()
    assert accuracy > 0.9, f"copied only {accuracy:.0%} of the tokens after training"
