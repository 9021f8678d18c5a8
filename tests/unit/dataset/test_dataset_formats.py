"""The JSONL writer (orjson) against the standard library's json as the oracle."""

from __future__ import annotations

import json

import orjson
from dataset_records import make_record

from crucible.dataset.formats import RENDERERS, encode_example, render_jsonl, render_jsonl_stdlib, to_example
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


def test_the_build_line_encoder_gives_the_renderers_bytes() -> None:
    """`encode_example` (strings encoded once, fragments joined) against encoding each format's dict."""
    records = generate_curated_records(300, seed=5)
    for i, text in enumerate(TRICKY):
        records.append(
            make_record(
                f"t{i}",
                turns=[("system", "sys"), ("partner", text), ("user", text), ("assistant", text[::-1]), ("user", "")],
                context={"topic": text, "relationship_stage": text},
                quality=7.123456789,
            )
        )
    records.append(
        make_record("reply-first", turns=[("assistant", "hi"), ("user", "q"), ("assistant", "a")], context={})
    )
    formats = list(RENDERERS)
    for prompt in ("You are a coach.", 'Système \u2028 ✨ "quoted"', ""):
        for record in records:
            example = to_example(record)
            expected = [orjson.dumps(RENDERERS[fmt](example, prompt)) for fmt in formats]
            assert encode_example(example, formats, prompt) == expected
            assert encode_example(example, formats[::-1], prompt) == expected[::-1]
