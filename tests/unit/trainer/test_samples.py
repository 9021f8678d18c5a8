from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from crucible.trainer.corpus import coaching_dialogues
from crucible.trainer.inputs import split_files
from crucible.trainer.samples import (
    IGNORE,
    PackedCollator,
    PaddedCollator,
    pack_samples,
    packed_row,
    padded_row,
    tokenize_chat,
    tokenize_chats,
)


@pytest.fixture(scope="module")
def tok(tiny_model: Path):
    return AutoTokenizer.from_pretrained(tiny_model)


def _chats():
    chats = coaching_dialogues(6, seed=3)
    chats[1] = [
        {"role": "system", "content": "Be kind."},
        *chats[1],
        {"role": "user", "content": "And then?"},
        {"role": "assistant", "content": "Then breathe."},
    ]
    return chats


def test_loss_mask_covers_exactly_the_assistant_tokens(tok) -> None:
    # Oracle: transformers' own assistant mask from the template's {% generation %} markers.
    for chat in _chats():
        sample = tokenize_chat(tok, chat, 1024)
        ref = tok.apply_chat_template(chat, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        assert sample.input_ids == ref["input_ids"]
        assert [int(x != IGNORE) for x in sample.labels] == ref["assistant_masks"]
        assert all(x in (IGNORE, i) for x, i in zip(sample.labels, sample.input_ids, strict=True))


def test_packed_samples_do_not_attend_across_boundaries(tok, tiny_model: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    model.config.use_cache = False
    samples = tokenize_chats(tok, _chats(), 1024)
    batch = PackedCollator(tok.pad_token_id)([packed_row(samples[:3]), packed_row(samples[3:4])])
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        offset = 0
        for s in samples[:3]:
            alone = model(input_ids=torch.tensor([s.input_ids])).logits[0]
            torch.testing.assert_close(packed[offset : offset + len(s.input_ids)], alone, atol=1e-4, rtol=1e-4)
            offset += len(s.input_ids)


def test_packed_and_padded_batches_train_on_the_same_tokens(tok) -> None:
    samples = tokenize_chats(tok, coaching_dialogues(20, seed=4), 1024)
    groups = pack_samples(samples, 200)
    assert all(sum(len(s.input_ids) for s in g) <= 200 for g in groups)
    assert sorted(len(s.input_ids) for g in groups for s in g) == sorted(len(s.input_ids) for s in samples)
    packed = PackedCollator(tok.pad_token_id)([packed_row(g) for g in groups])
    padded = PaddedCollator(tok.pad_token_id)([padded_row(s) for s in samples])
    # The first token of a sample (BOS) is never a target, so both layouts train on the same targets.
    assert int((packed["labels"] != IGNORE).sum()) == int((padded["labels"] != IGNORE).sum())
    assert int((packed["input_ids"] != tok.pad_token_id).sum()) == int(padded["attention_mask"].sum())


def test_truncated_sample_without_assistant_tokens_is_dropped(tok) -> None:
    long_user = [{"role": "user", "content": "word " * 400}, {"role": "assistant", "content": "ok"}]
    assert tokenize_chats(tok, [long_user], 32) == []


def test_manifest_split_files_prefers_chat_files() -> None:
    manifest = {
        "version": "v3_20261122",
        "splits": {
            "train": {
                "chat": {"key": "datasets/v3/train.chat.jsonl", "sha256": "aa"},
                "alpaca": {"key": "datasets/v3/train.alpaca.jsonl", "sha256": "bb"},
            },
            "validation": {"files": [{"format": "chat", "path": "datasets/v3/val.chat.jsonl", "sha256": "cc"}]},
        },
        "test": "datasets/v3/test.chat.jsonl",
    }
    assert split_files(manifest) == {
        "train": ("datasets/v3/train.chat.jsonl", "aa"),
        "val": ("datasets/v3/val.chat.jsonl", "cc"),
        "test": ("datasets/v3/test.chat.jsonl", ""),
    }


def test_manifest_split_files_reads_the_dataset_services_shape() -> None:
    files = {
        f"{split}.{fmt}.jsonl": {"split": split, "format": fmt, "records": 3, "bytes": 9, "sha256": f"{split}-{fmt}"}
        for split in ("train", "val", "test")
        for fmt in ("alpaca", "chat", "sharegpt")
    }
    files["report.md"] = {"bytes": 1, "sha256": "r"}
    assert split_files({"version": "v1", "files": files}) == {
        "train": ("train.chat.jsonl", "train-chat"),
        "val": ("val.chat.jsonl", "val-chat"),
        "test": ("test.chat.jsonl", "test-chat"),
    }
