"""The JSONL writer (orjson) against the standard library's json as the oracle."""

from __future__ import annotations

import json

from dataset_records import make_record

from crucible.dataset.formats import RENDERERS, render_jsonl, render_jsonl_stdlib, to_example
from crucible.dataset.sample_records import generate_curated_records

TRICKY = [
    "Ça va? Nous nous disputons — souvent 😅",
    'quotes " and \\ backslashes / slashes',
    "control \x01\x1f chars, tab\tand\r\nnewlines",
    "line separator \u2028 and \u2029 paragraph",
    "日本語のテキスト",
]


def test_orjson_bytes_equal_the_standard_library() -> None:
    records = generate_curated_records(200, seed=3)
    records += [
        make_record(f"t{i}", turns=[("user", text), ("assistant", text[::-1])], context={"topic": text})
        for i, text in enumerate(TRICKY)
    ]
    examples = [to_example(r) for r in records]
    for fmt in RENDERERS:
        fast = render_jsonl(examples, fmt, "Système: soyez gentil ✨")
        assert fast == render_jsonl_stdlib(examples, fmt, "Système: soyez gentil ✨"), fmt
        parsed = [json.loads(line) for line in fast.decode("utf-8").splitlines()]
        assert len(parsed) == len(records)


def test_empty_split_is_an_empty_file() -> None:
    assert render_jsonl([], "chat", "x") == b""
