"""Names typed in lower case, where no capital shows them: after a naming cue in any message ("my
name is borna jerković", `find_cued_lower_names`), and in a message typed all in lower case first-
and-last pairs ("olga krylova", `find_lower_name_pairs`) and single words ("i met kelsey at the
gym", `find_lower_single_names`). A single word is a name when the name lists know it and English
uses it rarely, or English barely knows it at all, unless its neighbour makes it a noun or an
adjective; `names.py` reads the capitalised runs and calls these.
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

from crucible.scrubber.lexicon import AMBIGUOUS_ZIPF, COMMON_ZIPF, NEVER_NAMES, Lexicon
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
    if bare not in lex.first_names or not bare.isalpha() or len(bare) < 2 or bare in NEVER_NAMES:
        return False
    if bare in _ADDRESS_TERMS:
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
        elif _cued_candidate(bare, lex):
            prev = _PREV_WORD.search(text, max(0, m.start() - 20), m.start())
            if (
                prev is not None
                and prev.group(1) in PERSON_CUE_ENDS
                and PERSON_CUE.search(text, max(0, m.start() - 48), m.start()) is not None
            ):
                yield Span(m.start(), m.start() + len(bare), "PERSON")


# People type names in lower case in chat ("my name is borna jerković"): after these cues, up to
# three words that are listed names or unknown words are a name, whatever their case.
LOWER_NAME_CUE = regex.compile(
    r"\b(my name is|my name's|name is|names are|i['’]?m called|i am called|call me|calls me|named|called|"
    r"maiden name is|this is|i am|i['’]m|im)\s+"
    r"((?:[\p{L}\p{M}][\p{L}\p{M}'’-]*\.?)(?:\s+[\p{L}\p{M}][\p{L}\p{M}'’-]*\.?){0,2})",
    regex.IGNORECASE,
)
# "I'm", "I am", "this is" introduce a state far more often than a name ("I'm sad and tired",
# "this is hard"), and Faker's name lists hold many everyday words ("Sad", "Lucky", "Precious",
# "Windy"). After these cues a lower-case word is a name only when it is not an ordinary English
# word; after a greeting ("hi, i'm anna") also a listed name that is not a very frequent word
# ("hey i'm sad" stays).
_WEAK_CUES = frozenset({"this is", "i am", "i'm", "i’m", "im"})
_GREETING_BEFORE = regex.compile(
    r"\b(?:hi|hello|hey|hiya|heya|greetings|yo)(?:\s+(?:there|all|everyone|guys))?[\s,!.]*$", regex.I
)


_GREETED_NAME_ZIPF = 4.5
_CALL_CUES = frozenset({"call me", "calls me"})
_LOWER_NAME_KEYS = ("name", "call", "this is", "i am", "i'm", "i’m", "im ")


def find_cued_lower_names(text: str, lex: Lexicon) -> Iterator[Span]:
    """Names after "my name is", "call me", "this is" ..., whatever their case ("my name is borna jerković")."""
    lower = text.lower()
    for k in _LOWER_NAME_KEYS:
        if k in lower:
            break
    else:
        return
    for m in LOWER_NAME_CUE.finditer(text):
        weak = m.group(1).lower() in _WEAK_CUES
        greeted = weak and _GREETING_BEFORE.search(text, 0, m.start()) is not None
        calling = m.group(1).lower() in _CALL_CUES
        start = end = m.start(2)
        pos = m.start(2)
        for word in m.group(2).split():
            bare = word.rstrip(".")
            begin = text.index(word, pos)
            pos = begin + len(word)
            low = bare.lower()
            if low in NEVER_NAMES:
                break
            freq = lex.frequency(low)
            common = freq >= COMMON_ZIPF
            if weak and common and not (greeted and freq < _GREETED_NAME_ZIPF):
                break
            # "call me back", "calls me now": after a call, a very frequent word is the call's adverb
            if calling and freq >= AMBIGUOUS_ZIPF:
                break
            if not (lex.is_name(low) or not common or (len(bare) == 1 and end > start)):
                break
            end = begin + len(bare)
        if end > start and not text[start:end][:1].isupper():  # capitalised names are handled by runs
            yield Span(start, end, "PERSON")


# In a message typed all in lower case a name has no capital to show it: a listed first name
# that is not an everyday word (or is a name above all however frequent: "john", "sarah";
# name_first.py), then an optional initial, then a listed or unknown surname.
_LOWER_FIRST_MAX_ZIPF = 4.6
_LOWER_LAST_MAX_ZIPF = 4.6
_LOWER_PAIRED_FIRST_MAX_ZIPF = 5.0


def find_lower_name_pairs(text: str, lex: Lexicon) -> Iterator[Span]:
    """First-and-last names in a message typed all in lower case ("olga krylova", "henry berglund")."""
    words = [(m.start(), m.end(), m.group()) for m in _LOWER_WORD.finditer(text)]
    i = 0
    while i < len(words) - 1:
        s, e, w = words[i]
        listed = w in lex.first_names and w not in NEVER_NAMES
        first_freq = lex.frequency(w) if listed else 0.0
        name_first = listed and w in name_first_words()
        if listed and (first_freq < _LOWER_PAIRED_FIRST_MAX_ZIPF or name_first):
            j = i + 1
            if len(words[j][2].rstrip(".")) == 1 and j + 1 < len(words) and _gap_is_space(text, e, words[j][0]):
                j += 1
            s2, _, w2 = words[j]
            bare = w2.rstrip(".").removesuffix("'s").removesuffix("’s")
            freq = lex.frequency(bare)
            if first_freq < _LOWER_FIRST_MAX_ZIPF or name_first:
                surname = (lex.is_name(bare) and (freq < _LOWER_LAST_MAX_ZIPF or bare in name_first_words())) or (
                    freq < COMMON_ZIPF and len(bare) > 2
                )
            else:
                # a more frequent first name ("henry", "martin") only before a listed surname English
                # barely uses ("henry berglund"; "golden retriever" is no name)
                surname = bare in lex.last_names and freq < COMMON_ZIPF and len(bare) > 2
            if surname and bare not in NEVER_NAMES and _gap_is_space(text, words[j - 1][1], s2):
                yield Span(s, s2 + len(bare), "PERSON")
                i = j + 1
                continue
        i += 1


def _gap_is_space(text: str, a: int, b: int) -> bool:
    return 0 < b - a <= 2 and text[a:b].isspace()
