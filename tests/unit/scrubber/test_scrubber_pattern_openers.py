"""The card, SSN, phone and house-number patterns open with their first character and test what may
not stand before it right after it (so `re` can skip to candidates in C). Written that way they
must find exactly what the lookbehind-first forms found: both forms are kept here and compared on
random strings built from the characters the patterns care about. Likewise the possessive and
atomic forms that bound backtracking (the phone pattern, the company-name patterns) against their
plain forms. The cheap gates in front of the IBAN, account-id, national-id and "X of Y"
patterns must never hide a match."""

from __future__ import annotations

import random
import re

import pytest
import regex

from crucible.scrubber import addresses, names, orgs, structured
from crucible.scrubber.detect import Detector

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
    for key in ("ssn", "social security", "social insurance", "national id", "national insurance", "pesel"):
        assert structured._NATIONAL_KEYS.search(f"the {key} is 12345")
    for key in ("personal id", "id number", "passport", "nino", "tax id", "tin"):
        assert structured._NATIONAL_KEYS.search(f"the {key} is 12345")
    assert structured._NATIONAL_KEYS.search("tin: 12345")
    assert not structured._NATIONAL_KEYS.search("a meeting at 10, waiting for 12345")


def test_the_national_id_gate_never_hides_a_national_id() -> None:
    rng = random.Random(17)
    words = ["ssn", "SSN", "social", "security", "insurance", "national", "id", "ID", "number", "pesel", "personal"]
    words += ["passport", "nino", "tax", "tin", "TIN", "meeting", "is", "no.", "#", ":", "AB", "123456", "98-76 543"]
    for _ in range(5_000):
        text = "".join(rng.choice(words) + rng.choice(["", " ", "  ", "-", ":"]) for _ in range(rng.randint(1, 8)))
        if structured.NATIONAL_ID.search(text):
            assert structured._NATIONAL_KEYS.search(text.lower()), text


def test_the_of_org_gate_never_hides_an_of_org() -> None:
    rng = random.Random(19)
    words = ["University", "Bank", "City", "Friends", "of", "the", "Oregon", "Ann", "xBank", "McBank", "é", "Ñu", "&"]
    for _ in range(5_000):
        text = "".join(rng.choice(words) + rng.choice([" ", " ", "", "-", ", "]) for _ in range(rng.randint(1, 8)))
        if orgs.OF_ORG.search(text):
            assert orgs._OF_GATE.search(text), text


# The phone pattern before its digit counts were made possessive and its separators atomic.
_PHONE_PLAIN = re.compile(
    r"[+(\d](?:(?<![\w+/.-].)|(?<=[A-Za-z]\..))(?:(?<=\+)\s?\(?\d{1,4}\)?|(?<=\()\+?\d{1,5}\)|(?<=\d)\d{0,5})"
    r"(?:(?:[ ./-]|\)[ ]?|[ ]?\(|\)?[ ./-]\(?|[ ]?/[ ]?)?\d{1,8}\)?){0,10}"
    r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?(?![\w/]|-\d)",
    re.IGNORECASE,
)


def test_bounded_phone_pattern_finds_the_same_numbers() -> None:
    # Digits and separators only, the worst case for the plain form: kept under 23 characters so
    # that it stays quick (at 30 one string took it 280 ms).
    rng = random.Random("phone-bounded")
    samples = [_random_text(rng) for _ in range(5_000)]
    digits_and_separators = "0123456789" * 3 + " -./()+"
    for _ in range(10_000):
        samples.append("".join(rng.choice(digits_and_separators) for _ in range(rng.randint(1, 22))))
    samples += ["1)2)3)4)5)6)7)8)9)0)1)2/", "(1) (2) (3) (4) (5) 6/", "555)123 4567", "12)a", "+1 (555) 1234 ext. 12"]
    for text in samples:
        plain = [m.span() for m in _PHONE_PLAIN.finditer(text)]
        assert plain == [m.span() for m in structured.PHONE.finditer(text)], text


def test_possessive_company_words_find_the_same_companies(detector: Detector) -> None:
    legal, joined, _ = names._company_pattern(detector.lex)
    plain = {rx: regex.compile(rx.pattern.replace("]*+", "]*")) for rx in (legal, joined)}
    assert all(p.pattern != rx.pattern for rx, p in plain.items())
    rng = random.Random("companies")
    suffixes = [*sorted(detector.lex.company_suffixes)[:40], "Ltd", "GmbH", "S.A.", "Inc.", "d.o.o.", "& Co. KG"]
    words = ["Smith", "Jones-Lee", "O'Neil", "St.", "Åsa", "Ébène", "Müller-", "A.", "Grupo", "PT", "and", "&", "at"]
    words += ["for", *suffixes]
    for _ in range(4_000):
        parts = [rng.choice(words) for _ in range(rng.randint(1, 7))]
        text = "".join(w + rng.choice([" ", " ", ", ", " - ", "-", "'s ", ". "]) for w in parts)
        for rx, p in plain.items():
            assert [m.span() for m in p.finditer(text)] == [m.span() for m in rx.finditer(text)], text


def test_the_joined_firm_gate_never_hides_a_joined_firm(detector: Detector) -> None:
    _, joined, _ = names._company_pattern(detector.lex)
    rng = random.Random(23)
    words = ["at", "for", "by", "with", "chat", "Eriksson", "Norberg", "Łokietek", "Émile", "&", "and", "-", "x", "Åsa"]
    hits = 0
    for _ in range(5_000):
        text = "".join(rng.choice(words) + rng.choice([" ", " ", ", ", " - "]) for _ in range(rng.randint(2, 8)))
        if joined.search(text):
            hits += 1
            assert names._JOINED_CUE.search(text), text
    assert hits > 100  # the random texts do hold joined firms
