"""The card, SSN, phone and house-number patterns open with their first character and test what may
not stand before it right after it (so `re` can skip to candidates in C). Written that way they
must find exactly what the lookbehind-first forms found: both forms are kept here and compared on
random strings built from the characters the patterns care about. The cheap gates in front of
the IBAN, account-id and national-id patterns must never hide a match."""

from __future__ import annotations

import random
import re

import pytest

from crucible.scrubber import addresses, structured

# The lookbehind-first forms, as they were before the rewrite.
_BEFORE = {
    "CARD": re.compile(
        r"(?<![\d+-])(?:\d{12,19}|\d{4}([ -])\d{4}\1\d{4}(?:\1\d{1,4}){0,2}|\d{4}([ -])\d{6}\2\d{4,5})(?![\d-])"
    ),
    "SSN": re.compile(r"(?<![\d-])\d{3}([- .])\d{2}\1\d{4}(?![\d-])"),
    "PHONE": re.compile(
        r"(?:(?<![\w+/.-])|(?<=[A-Za-z]\.))(?:\+\s?\(?\d{1,4}\)?|\(\+?\d{1,5}\)|\d{1,6})"
        r"(?:(?:[ ./-]|\)[ ]?|[ ]?\(|\)?[ ./-]\(?|[ ]?/[ ]?)?\d{1,8}\)?){0,10}"
        r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?(?![\w/]|-\d)",
        re.IGNORECASE,
    ),
    "START_NUMBER": re.compile(
        r"(?<![\w.,:/-])\d{1,6}[A-Za-z]?(?:[-/]\d{1,6}[A-Za-z]?)?(?=,?[ \t\n]+(?:\d{1,5}[ \t]+)?[^\W\d_])"
    ),
}
_AFTER = {
    "CARD": structured.CARD,
    "SSN": structured.SSN,
    "PHONE": structured.PHONE,
    "START_NUMBER": addresses.START_NUMBER,
}
# Digits weigh most; then the separators and neighbours the lookbehinds and groups test.
_ALPHABET = "0123456789" * 6 + "   --..//++(()):,_xXaZé\n\t" + "ext"


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 40)))


@pytest.mark.parametrize("name", sorted(_BEFORE))
def test_opening_character_first_finds_the_same_matches(name: str) -> None:
    rng = random.Random(name)
    before, after = _BEFORE[name], _AFTER[name]
    samples = [_random_text(rng) for _ in range(3_000)] + [
        "Tel.0490 75 40 81",
        "+41 44 668 18 00 and (99) 645-791",
        "card 4111 1111 1111 1111, amex 3782 822463 10005",
        "ssn 123-45-6789 or 123.45.6789",
        "12 Main St, 4/12B Rue X",
        "x1-555-123-4567",
    ]
    for text in samples:
        assert [m.span() for m in before.finditer(text)] == [m.span() for m in after.finditer(text)], text
        assert [m.groups() for m in before.finditer(text)] == [m.groups() for m in after.finditer(text)], text


def test_the_iban_gate_never_hides_an_iban() -> None:
    rng = random.Random(13)
    letters = "ABDEGLNPTabcz"
    for _ in range(3_000):
        text = "".join(rng.choice(letters + "0123456789 -.") for _ in range(rng.randint(1, 40)))
        if structured.IBAN.search(text):
            assert structured._IBAN_GATE.search(text), text


def test_the_key_gates_find_every_key_word() -> None:
    for key in ("user", "account", "member", "customer", "client", "profile", "acct", "login", "uid", "usr", "cus"):
        assert structured._ACCOUNT_KEYS.search(f"my {key}name: x")
    for key in ("ssn", "social", "national", "pesel", "personal id", "id number", "passport", "nino", "tax", "tin"):
        assert structured._NATIONAL_KEYS.search(f"the {key} is 12345")
