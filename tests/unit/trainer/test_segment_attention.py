from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from crucible.trainer.corpus import coaching_dialogues
from crucible.trainer.samples import PackedCollator, PaddedCollator, packed_row, padded_row, tokenize_chats
from crucible.trainer.segment_attention import register, segment_bounds


def test_segment_bounds_follow_position_restarts() -> None:
    pos = torch.tensor([[0, 1, 2, 0, 1, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8]])
    assert segment_bounds(pos) == [[(0, 3), (3, 5), (5, 9)], [(0, 9)]]


def test_segment_attention_matches_transformers_block_mask(tiny_model: Path) -> None:
    """Oracle: transformers' SDPA with the block-diagonal mask it derives from position_ids."""
    tok = AutoTokenizer.from_pretrained(tiny_model)
    ref = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa")
    ours = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation=register())
    for m in (ref, ours):
        m.config.use_cache = False
    samples = tokenize_chats(tok, coaching_dialogues(9, seed=3), 1024)
    packed = PackedCollator(tok.pad_token_id)(
        [packed_row(samples[:3]), packed_row(samples[3:5]), packed_row(samples[5:9])]
    )
    out_ref, out = ref(**packed), ours(**packed)
    torch.testing.assert_close(out.logits, out_ref.logits, atol=1e-4, rtol=1e-4)
    out_ref.loss.backward()
    out.loss.backward()
    for a, b in zip(ref.parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, atol=1e-5, rtol=1e-4)
    # Rows that are not packed (padding, attention mask) take transformers' own path.
    padded = PaddedCollator(tok.pad_token_id)([padded_row(s) for s in samples[:4]])
    with torch.no_grad():
        torch.testing.assert_close(ours(**padded).logits, ref(**padded).logits)


@pytest.mark.parametrize("attention", ["crucible_segments", "sdpa"])
def test_a_tokens_logits_do_not_depend_on_the_other_samples_in_its_pack(tiny_model: Path, attention: str) -> None:
    """No cross-attention between packed samples: swapping a sample's neighbours in its row (and
    the other rows of the batch) leaves its logits unchanged, equal to the sample run alone."""
    register()
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation=attention)
    model.config.use_cache = False
    a, b, c, d, e, f = tokenize_chats(tok, coaching_dialogues(6, seed=11), 1024)
    collate = PackedCollator(tok.pad_token_id)
    # b sits between different neighbours, at a different offset, beside a different second row.
    first = collate([packed_row([a, b, c]), packed_row([d])])
    second = collate([packed_row([e, f, b]), packed_row([c, a])])
    with torch.no_grad():
        out1 = model(**first).logits
        out2 = model(**second).logits
        alone = model(input_ids=torch.tensor([b.input_ids])).logits[0]
    n = len(b.input_ids)
    at1, at2 = len(a.input_ids), len(e.input_ids) + len(f.input_ids)
    torch.testing.assert_close(out1[0, at1 : at1 + n], out2[0, at2 : at2 + n], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out1[0, at1 : at1 + n], alone, atol=1e-4, rtol=1e-4)
    # The check can fail: with the neighbours visible (one sample's positions run on across the
    # row, as in plain concatenation) b's logits do change.
    crossed = first["position_ids"].clone()
    crossed[0, : at1 + n] = torch.arange(at1 + n)
    with torch.no_grad():
        leaky = model(input_ids=first["input_ids"], position_ids=crossed).logits
    assert not torch.allclose(leaky[0, at1 : at1 + n], alone, atol=1e-3)
