"""Chat `messages` -> token ids with labels on the assistant's tokens only, then rows for the
Trainer: packed (several samples per row, positions restarting per sample so attention never
crosses samples) or padded (one sample per row)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IGNORE = -100


@dataclass(frozen=True)
class Sample:
    input_ids: list[int]
    labels: list[int]  # IGNORE where the token is not the assistant's

    @property
    def trained_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def read_chat_jsonl(path: Path) -> list[list[dict[str, str]]]:
    """The `messages` of each line of a chat JSONL file (the dataset's chat format)."""
    chats = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            msgs = obj.get("messages") if isinstance(obj, dict) else None
            if not isinstance(msgs, list) or not msgs:
                raise ValueError(f"{path}:{n}: expected an object with a non-empty `messages` list")
            chats.append([{"role": str(m["role"]), "content": str(m["content"])} for m in msgs])
    return chats


def assistant_char_spans(tokenizer: Any, messages: Sequence[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans the assistant wrote (content plus the
    end-of-turn marker the template adds). Found by rendering growing prefixes, so it works with
    any chat template, including ones without `{% generation %}` markers (e.g. Llama 3's)."""
    full = tokenizer.apply_chat_template(list(messages), tokenize=False)
    spans = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(list(messages[:i]), tokenize=False, add_generation_prompt=True)
        through = tokenizer.apply_chat_template(list(messages[: i + 1]), tokenize=False)
        if not (full.startswith(through) and through.startswith(before)):
            raise ValueError("the chat template does not render conversations prefix by prefix")
        # Trailing whitespace after the end-of-turn marker belongs to the template, not the answer.
        end = len(through.rstrip())
        spans.append((len(before), end))
    return full, spans


def tokenize_chat(tokenizer: Any, messages: Sequence[dict[str, str]], max_length: int) -> Sample:
    text, spans = assistant_char_spans(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"][:max_length]
    labels = []
    for tok_id, (start, end) in zip(ids, enc["offset_mapping"][: len(ids)], strict=True):
        inside = end > start and any(s <= start and end <= e for s, e in spans)
        labels.append(tok_id if inside else IGNORE)
    return Sample(ids, labels)


def tokenize_chats(tokenizer: Any, chats: Iterable[Sequence[dict[str, str]]], max_length: int) -> list[Sample]:
    """Tokenized samples; a sample with no assistant token left (truncated away) is dropped."""
    out = [tokenize_chat(tokenizer, c, max_length) for c in chats]
    return [s for s in out if s.trained_tokens > 0]


def pack_samples(samples: Sequence[Sample], max_length: int) -> list[list[Sample]]:
    """First-fit-decreasing bins of samples whose lengths sum to at most `max_length`."""
    order = sorted(range(len(samples)), key=lambda i: -len(samples[i].input_ids))
    bins: list[list[int]] = []
    room: list[int] = []
    for i in order:
        n = len(samples[i].input_ids)
        for b, free in enumerate(room):
            if n <= free:
                bins[b].append(i)
                room[b] -= n
                break
        else:
            bins.append([i])
            room.append(max_length - n)
    return [[samples[i] for i in sorted(b)] for b in bins]


def packed_row(group: Sequence[Sample]) -> dict[str, list[int]]:
    """One row of several samples; `position_ids` restart at 0 per sample, which transformers
    turns into a block-diagonal causal mask (sdpa/eager) or varlen flash-attention: no attention
    crosses a sample boundary."""
    ids: list[int] = []
    labels: list[int] = []
    pos: list[int] = []
    for s in group:
        ids += s.input_ids
        # The first token of a sample is never a target: it must not be predicted from the
        # previous sample's last token.
        labels += [IGNORE, *s.labels[1:]]
        pos += list(range(len(s.input_ids)))
    return {"input_ids": ids, "labels": labels, "position_ids": pos}


def padded_row(sample: Sample) -> dict[str, list[int]]:
    return {"input_ids": list(sample.input_ids), "labels": list(sample.labels)}


class PackedCollator:
    """Stacks packed rows, filling the tail with pad tokens that form their own (ignored) sample,
    with no attention mask so the model derives sample boundaries from `position_ids`."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: Sequence[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        ids, labels, pos = [], [], []
        for r in rows:
            gap = width - len(r["input_ids"])
            ids.append(r["input_ids"] + [self.pad_id] * gap)
            labels.append(r["labels"] + [IGNORE] * gap)
            pos.append(r["position_ids"] + list(range(gap)))
        return {
            "input_ids": torch.tensor(ids),
            "labels": torch.tensor(labels),
            "position_ids": torch.tensor(pos),
        }


class PaddedCollator:
    """One sample per row, right-padded to the longest in the batch, with an attention mask."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: Sequence[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        ids, labels, mask = [], [], []
        for r in rows:
            gap = width - len(r["input_ids"])
            ids.append(r["input_ids"] + [self.pad_id] * gap)
            labels.append(r["labels"] + [IGNORE] * gap)
            mask.append([1] * len(r["input_ids"]) + [0] * gap)
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}


def build_rows(samples: Sequence[Sample], *, packing: bool, max_length: int) -> list[dict[str, list[int]]]:
    if packing:
        return [packed_row(g) for g in pack_samples(samples, max_length)]
    return [padded_row(s) for s in samples]


def make_collator(packing: bool, pad_id: int) -> PackedCollator | PaddedCollator:
    return PackedCollator(pad_id) if packing else PaddedCollator(pad_id)
