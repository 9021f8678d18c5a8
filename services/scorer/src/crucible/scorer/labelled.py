"""The labelled sets in `data/` (written by `services/scorer/tools/make_*_set.py`; see those for how).

Each row carries its split (train / val / test), fixed by the hand-written fragment or conversation it
comes from, so nothing of a test example's wording is seen in training.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib.resources import files

import numpy as np

from crucible.common.categories import CATEGORIES
from crucible.scorer.policy import SAFETY_LABELS


@dataclass(frozen=True)
class CategoryExample:
    user: str
    assistant: str
    category: str
    empathetic: bool
    split: str


@dataclass(frozen=True)
class SafetyExample:
    text: str
    labels: tuple[str, ...]
    split: str

    def vector(self) -> np.ndarray:
        return np.array([label in self.labels for label in SAFETY_LABELS], dtype=np.float32)


def _rows(name: str) -> list[dict]:
    text = files("crucible.scorer").joinpath("data", name).read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def data_sha256(name: str) -> str:
    return hashlib.sha256(files("crucible.scorer").joinpath("data", name).read_bytes()).hexdigest()


def category_set() -> list[CategoryExample]:
    out = [
        CategoryExample(r["user"], r["assistant"], r["category"], bool(r["empathetic"]), r["split"])
        for r in _rows("category.jsonl")
    ]
    bad = {e.category for e in out} - set(CATEGORIES)
    if bad:
        raise ValueError(f"category.jsonl has unknown categories {sorted(bad)}")
    return out


def safety_set() -> list[SafetyExample]:
    out = [SafetyExample(r["text"], tuple(r["labels"]), r["split"]) for r in _rows("safety.jsonl")]
    bad = {label for e in out for label in e.labels} - set(SAFETY_LABELS)
    if bad:
        raise ValueError(f"safety.jsonl has unknown labels {sorted(bad)}")
    return out
