"""Single-word names in a message typed all in lower case ("i met kelsey at the gym").

`names.py` finds lower-case names after a cue ("my name is anna") and first-and-last pairs
("olga krylova"); a lone first name or surname in a message without capitals has neither. Here a
single word is a name when the name lists know it and English uses it rarely, or English barely
knows it at all, unless its neighbour makes it a noun or an adjective.
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

from crucible.scrubber.lexicon import NEVER_NAMES, Lexicon
from crucible.scrubber.name_first import name_first_words
from crucible.scrubber.person_cues import PERSON_CUE, PERSON_CUE_ENDS
from crucible.scrubber.spans import Span

_LOWER_WORD = regex.compile(r"[\p{Ll}][\p{Ll}\p{M}'’-]*\.?")
# Terms of address are no names, whatever the name lists say ("thanks mate", "hi babe").
_ADDRESS_TERMS_TEXT = (
    "mate mates babe baby buddy darling boss honey hun hon love dear sweetie sweetheart man bro dude sis pal chief "
    "doc ma pa sir madam miss guys folks team everyone everybody all friend friends girl girls boy boys kid kids kiddo "
    "son champ boo bae fam gang again anyway though tho so too much lots"
)
_ADDRESS_TERMS = frozenset(_ADDRESS_TERMS_TEXT.split())


# In a message typed all in lower case, a single word is a name when it is a listed name rarer than
# an everyday word (the bound lower_orgs uses: "kelsey", "okafor", not "will" or "grace"), a name
# English uses above all as a name however frequent ("sarah", "david": name_first.py) or a word
# English barely knows ("samoylova"), unless an article, a determiner or a linking verb before it
# makes it a noun or an adjective.
_LOWER_SINGLE_NAME_ZIPF = 4.3
_LOWER_UNKNOWN_ZIPF = 1.5
_PREV_WORD = regex.compile(r"([\p{L}']+)\s+$")
# An article, a determiner or a linking verb makes the next word a noun or an adjective ("a hug",
# "the basil", "roads are icy", "so sunny"), never a name.
_NOT_BEFORE_NAMES_TEXT = (
    "a an the this that these those my your his her its our their some any no every each another such "
    "is are was were be been being am so very too really quite more most less how get got feel feels felt "
    "look looks looked seem seems seemed"
)
_NOT_BEFORE_NAMES = frozenset(_NOT_BEFORE_NAMES_TEXT.split())


_SINGLE_CACHE: dict[int, dict[str, bool]] = {}


def _lower_single_candidate(bare: str, lex: Lexicon) -> bool:
    """Cached per lexicon: the same lower-case words come back message after message."""
    cache = _SINGLE_CACHE.setdefault(id(lex), {})
    hit = cache.get(bare)
    if hit is None:
        if len(cache) > 100_000:
            cache.clear()
        ok = len(bare) >= 3 and bare not in NEVER_NAMES and bare not in _ADDRESS_TERMS and bare.isalpha()
        if ok:
            freq = lex.frequency(bare)
            named = lex.is_name(bare)
            # a frequent name English uses above all as a name is one too ("sarah", "david": name_first.py)
            ok = (named and (freq < _LOWER_SINGLE_NAME_ZIPF or bare in name_first_words())) or (
                not named and freq < _LOWER_UNKNOWN_ZIPF
            )
        hit = cache[bare] = ok
    return hit


# After a relation, a title or a greeting ("my husband jane", "hi kate") a listed first name counts
# up to this frequency: the cue says a person follows, but "my mom will", "my dad said", "my sister
# sad again" are a verb and an adjective. Known cost: "my son drew a picture" (4.46).
_CUED_NAME_MAX_ZIPF = 4.6  # the bound for first names in lower-case pairs (names.py)
# Inflected everyday words after a relation are its verb ("my mom lies", "my dad worked").
_INFLECTIONS = ("s", "ed", "ing")


def _cued_candidate(bare: str, lex: Lexicon) -> bool:
    if not bare.isalpha() or len(bare) < 2 or bare in NEVER_NAMES or bare in _ADDRESS_TERMS:
        return False
    if bare not in lex.first_names:
        return False
    if lex.frequency(bare) >= _CUED_NAME_MAX_ZIPF and bare not in name_first_words():
        return False
    return not any(
        bare.endswith(x) and len(bare) - len(x) >= 3 and lex.frequency(bare[: -len(x)]) >= 3.0 for x in _INFLECTIONS
    )


def find_lower_single_names(text: str, lex: Lexicon) -> Iterator[Span]:
    """Single-word names in an all-lower-case message ("i met kelsey at the gym", "my husband jane")."""
    for m in _LOWER_WORD.finditer(text):
        w = m.group().rstrip(".")
        bare = w.removesuffix("'s").removesuffix("’s")
        if _lower_single_candidate(bare, lex):
            prev = _PREV_WORD.search(text, max(0, m.start() - 20), m.start())
            if prev is not None and prev.group(1) in _NOT_BEFORE_NAMES:
                continue
            yield Span(m.start(), m.start() + len(bare), "PERSON")
        elif bare in lex.first_names and _cued_candidate(bare, lex):
            prev = _PREV_WORD.search(text, max(0, m.start() - 20), m.start())
            if (
                prev is not None
                and prev.group(1) in PERSON_CUE_ENDS
                and PERSON_CUE.search(text, max(0, m.start() - 48), m.start()) is not None
            ):
                yield Span(m.start(), m.start() + len(bare), "PERSON")
