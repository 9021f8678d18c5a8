"""Street addresses in messages typed without capitals ("we moved to hotzstrasse 67\\n3772 lancy",
"ship it to:\\n22 o'sweeney street d916awe kate ville", "i grew up at vegova ulica 730, 1573
zagorje ob savi").

The address scanner (`addresses.py`) reads capitals as the sign of a name: it stops at the first
ordinary lower-case word and never starts at a lower-case street name before its number. In a
message with no capitals at all that sign is missing, so here a house number is the anchor:

- backwards from it, the street's name: up to five words that are street words or prefixes
  ("rue", "ulica", "praça"), compounds ("melissa-mohaupt-platz"), listed names that are not
  everyday words, or words English does not know;
- forwards, numbers, postcodes ("d916awe", "h-8220"), unit words, street words, names, unknown
  words and country names, across commas and line breaks; an everyday word only when a street or
  unit word or a number follows it within three words ("45 henderson cross", "13 lewis lake");
- a candidate must look like an address: a street, unit or prefix word, a second number or
  postcode, a line break, or a country. "i ran 5 miles", "at 5 am", "anna 25" stay.
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

from crucible.scrubber.addresses import LOWER_OK, STREET_WORDS, UNIT_WORDS, _is_street_word
from crucible.scrubber.lexicon import COMMON_ZIPF, NEVER_NAMES, Lexicon
from crucible.scrubber.spans import Span

# Any capital except the pronoun "I" shows the writer uses capitals; the scanner reads those.
_CAPITAL = regex.compile(r"(?!I(?![\p{L}\p{M}]))\p{Lu}")
_TOKEN = regex.compile(
    r"(?P<num>\d{1,6}[\p{L}]?(?:[-/]\d{1,6}[\p{L}]?)?\.?(?![\p{L}\p{M}\d]))"
    r"|(?P<code>(?=[\p{L}\d-]*\d)[\p{L}\d][\p{L}\d-]{1,9})"
    r"|(?P<word>[\p{L}\p{M}][\p{L}\p{M}'’./-]*)"
    r"|(?P<paren>\([\p{L}\p{M}]{1,12}\))"
)
_DIGIT = regex.compile(r"\d")
_PLACE_MAX_ZIPF = 4.0
_NAME_MAX_ZIPF = 4.6
_BACK_MAX = 5
# Words that join a sentence, never a street's or a town's name in these layouts.
_FUNCTION_WORDS = frozenset(
    [
        "of",
        "and",
        "or",
        "but",
        "the",
        "a",
        "to",
        "in",
        "on",
        "for",
        "with",
        "at",
        "from",
        "by",
        "is",
        "are",
        "was",
        "were",
        "my",
        "your",
        "our",
        "their",
        "his",
        "her",
        "it",
        "this",
        "that",
        "these",
        "those",
        "then",
        "than",
        "so",
        "if",
    ]
)
_ROMAN = frozenset({"ii", "iii", "iv", "vi", "vii", "viii", "ix", "xi", "xii"})


class _Tok:
    __slots__ = ("end", "kind", "low", "start")

    def __init__(self, start: int, end: int, kind: str, low: str) -> None:
        self.start, self.end, self.kind, self.low = start, end, kind, low


def _tokens(text: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "word"
        out.append(_Tok(m.start(), m.end(), kind, m.group().lower()))
    return out


def _gap(text: str, a: _Tok, b: _Tok) -> str:
    return text[a.end : b.start]


def _joinable(gap: str) -> bool:
    """Whitespace with at most one line break, or a comma or slash between parts."""
    bare = gap.replace(" ", "").replace("\t", "")
    return bare in ("", "\n", ",", ",\n", "\n,", "/") and gap.count("\n") <= 1


def _streety(low: str, lex: Lexicon) -> bool:
    word = low.rstrip(".")
    return (
        low in STREET_WORDS
        or low in UNIT_WORDS
        or word in UNIT_WORDS
        or low in lex.street_prefixes
        or _is_street_word(low, lex)
    )


def _placey(low: str, lex: Lexicon) -> bool:
    """A part of a street or place name: a listed name that is not an everyday word, or a word
    English does not know ("vegova", "zagorje", "lamego")."""
    parts = [p for p in low.rstrip(".").split("-") if p]
    if not parts or low in NEVER_NAMES:
        return False
    return all((lex.is_name(p) and lex.frequency(p) < _NAME_MAX_ZIPF) or lex.frequency(p) < COMMON_ZIPF for p in parts)


def _countries(lex: Lexicon) -> frozenset[str]:
    cached = _COUNTRY_CACHE.get(id(lex))
    if cached is None:
        cached = frozenset(c.lower() for c in lex.countries)
        _COUNTRY_CACHE[id(lex)] = cached
    return cached


_COUNTRY_CACHE: dict[int, frozenset[str]] = {}


def find_lower_addresses(text: str, lex: Lexicon) -> Iterator[Span]:
    """STREET_ADDRESS spans in a message written without capitals."""
    # (a capital is found within the first few characters of most texts; a missing digit only at the end)
    if _CAPITAL.search(text) or _DIGIT.search(text) is None:
        return
    toks = _tokens(text)
    covered_to = -1
    for i, tok in enumerate(toks):
        if tok.kind != "num" or tok.start < covered_to:
            continue
        span = _around(text, toks, i, lex)
        if span is not None:
            covered_to = span.end
            yield span


def _acceptable(toks: list[_Tok], j: int, text: str, lex: Lexicon, street_seen: bool) -> bool:
    tok = toks[j]
    if tok.kind in ("num", "code", "paren"):
        return True
    low = tok.low.rstrip(".") if tok.low.endswith(".") and len(tok.low) > 4 else tok.low
    # After the street, town and region names are often known words ("calgary alberta",
    # "belfast"): a word rarer than everyday chat, not a function word, belongs to the address.
    if street_seen and low not in _FUNCTION_WORDS and lex.frequency(low) < _PLACE_MAX_ZIPF:
        return True
    if _streety(low, lex) or low in LOWER_OK or low in _ROMAN or _placey(low, lex) or low in _countries(lex):
        return True
    if low in lex.street_suffixes_all:
        return True  # after a house number: "45 henderson cross", "926 gary landing"
    if j > 0 and f"{toks[j - 1].low} {low}" in _countries(lex):
        return True  # the second word of a two-word country ("south africa", "new zealand")
    if len(low) <= 4 and low.endswith(".") and low[:-1].isalpha():
        return True  # "r.", "nr.", "bl.", "sc."
    if low in _FUNCTION_WORDS:
        return False  # "2 cartons of milk and 12 eggs"
    # An everyday word belongs to the street's name only when a street or unit word follows it on
    # the same line, or a number or postcode within three words ("45 henderson cross", "ferry
    # street", "new brittney, wa 39927"); an address of everyday words only is refused below
    # ("8 out of 10").
    for k in range(j + 1, min(j + 4, len(toks))):
        if "\n" in _gap(text, toks[k - 1], toks[k]) or not _joinable(_gap(text, toks[k - 1], toks[k])):
            return False
        nxt = toks[k]
        if nxt.kind in ("num", "code") or _streety(nxt.low, lex) or nxt.low in _countries(lex):
            return True
    # Two-word countries ("south africa", "new zealand").
    return j + 1 < len(toks) and f"{low} {toks[j + 1].low.rstrip('.')}" in _countries(lex)


def _around(text: str, toks: list[_Tok], i: int, lex: Lexicon) -> Span | None:
    # Backwards: the street's name before the house number.
    first = i
    while first > 0 and i - first < _BACK_MAX:
        prev = toks[first - 1]
        gap = _gap(text, prev, toks[first])
        if "\n" in gap or gap.strip(" \t") not in ("", ","):
            break
        if gap.strip(" \t") == "," and first != i:
            break  # a comma only right before the number ("praça fernandes, 202")
        if prev.kind != "word" or not (
            _streety(prev.low, lex) or _placey(prev.low, lex) or prev.low in _ROMAN or prev.low in LOWER_OK
        ):
            break
        first -= 1
    while first < i and toks[first].low in LOWER_OK and not _streety(toks[first].low, lex):
        first += 1
    # Forwards.
    last = i
    street_seen = any(t.kind == "word" and _streety(t.low, lex) for t in toks[first:i])
    while last + 1 < len(toks) and last - first < 30:
        gap = _gap(text, toks[last], toks[last + 1])
        if not _joinable(gap) or not _acceptable(toks, last + 1, text, lex, street_seen):
            break
        last += 1
        street_seen = street_seen or (toks[last].kind == "word" and _streety(toks[last].low, lex))
    while last > i and toks[last].kind == "word" and toks[last].low in LOWER_OK and not _streety(toks[last].low, lex):
        last -= 1
    part = toks[first : last + 1]
    words = [t for t in part if t.kind == "word"]
    if not words or len(part) < 2:
        return None
    # "hegyalja út 98. st. the first ...": a street word after a complete address is the sentence's.
    if (
        len(part) >= 3
        and part[-1].low in STREET_WORDS
        and part[-2].kind == "num"
        and any(_streety(t.low, lex) for t in part[:-2] if t.kind == "word")
    ):
        part = part[:-1]
    if not any(_streety(t.low, lex) or _placey(t.low, lex) for t in words):
        return None  # only everyday words: "8 out of 10"
    numbers = [t for t in part if t.kind in ("num", "code")]
    after_number = [t for t in part if t.start > toks[i].start and t.kind == "word"]
    evidence = (
        any(_streety(t.low, lex) for t in words)
        or any(t.low in lex.street_suffixes_all for t in after_number)
        or len(numbers) >= 2
        or "\n" in text[part[0].start : part[-1].end]
        or any(t.low in _countries(lex) for t in words)
    )
    if not evidence:
        return None
    end = part[-1].end
    if text[end - 1] == "." and part[-1].kind == "word" and len(part[-1].low) > 4:
        end -= 1  # the sentence's full stop
    return Span(part[0].start, end, "STREET_ADDRESS")
