"""The normalisation is exactly the definition, and the vectorised one equals the reference."""

from __future__ import annotations

import random

import numpy as np
import pytest

from crucible.dedup.core import exact_key, exact_keys
from crucible.dedup.normalise import decode_codes, normalise_codes, normalise_text, record_text
from crucible.v1 import records_pb2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello,   World!", "hello world"),
        ("  leading and trailing \t\n", "leading and trailing"),
        ("ﬁne Ⅻ", "fine xii"),  # NFKC compatibility forms
        ("«Quoted» — dash… ¿qué?", "quoted dash qué"),  # Unicode punctuation (P*) goes
        ("price $5 + tax = 6", "price $5 + tax = 6"),  # symbols (S*) are not punctuation
        ("a\u00a0b\u3000c", "a b c"),  # non-ASCII white space collapses
        ("!!!", ""),
        ("", ""),
        ("Hi", "hi"),
    ],
)
def test_normalise_text_follows_the_definition(raw: str, expected: str) -> None:
    assert normalise_text(raw) == expected


def test_vectorised_normalisation_equals_the_reference_on_hostile_input() -> None:
    rng = random.Random(5)
    alphabet = "aAbZ .,!?-_\t\n\r\u00a0\u2003\u3000«»—…'\"İﬁéÉ😀\x1c\x00\ud800"
    texts = ["", " ", "  \t ", "!!!", " . a . ", "x"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)
    ]
    codes, lengths = normalise_codes(texts)
    assert decode_codes(codes, lengths) == [normalise_text(t) for t in texts]
    expected = np.array([exact_key(normalise_text(t)) for t in texts], dtype=np.uint64)
    assert (exact_keys(codes, lengths) == expected).all()


def test_an_empty_batch_and_all_empty_texts_work() -> None:
    codes, lengths = normalise_codes([])
    assert codes.size == 0 and lengths.size == 0
    codes, lengths = normalise_codes(["", "...", "  "])
    assert codes.size == 0 and lengths.tolist() == [0, 0, 0]


def test_record_text_joins_the_turns() -> None:
    record = records_pb2.Record(
        turns=[records_pb2.Turn(role="user", text="We argued."), records_pb2.Turn(role="assistant", text="Try this.")]
    )
    assert normalise_text(record_text(record)) == "we argued try this"
