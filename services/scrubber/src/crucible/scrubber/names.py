"""Person names and workplaces without a downloaded NER model.

A capitalised run of words ("Faina D. Yefremova", "Ellis-Ingram") is a name when it holds a
word from the name lists or an unknown proper noun (neither a listed name nor a common English
word); common words at the start of a sentence are trimmed off. Context decides the rest: a run
after "I work at", "my boss at" is a workplace; after "my sister", "Dr.", "named" it is a person
even when it is an ordinary word ("my friend Grace"); a run ending in "Inc", "Group", ... is an
organisation.

About 640 lines in one module on purpose: the word classes (`_word_class`), the run scanner and
`_classify_run` balance each other's details (which capitalised run is a person, a workplace or
ordinary words); what could stand alone already does (cues and designators in orgs.py, person cues
in person_cues.py, every lower-case reader in lower_names.py and lower_orgs.py, firm shapes in
org_shapes.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import repeat

import regex

from crucible.scrubber.lexicon import AMBIGUOUS_ZIPF, COMMON_ZIPF, NEVER_NAMES, PARTICLES, Lexicon
from crucible.scrubber.lower_names import find_cued_lower_names, find_lower_name_pairs, find_lower_single_names
from crucible.scrubber.lower_orgs import find_lower_orgs
from crucible.scrubber.name_first import name_first_words
from crucible.scrubber.orgs import (
    NEWS_AFTER,
    NOT_ORG_ACRONYMS,
    OCCUPATION_AFTER,
    PEOPLE_LIST_CUE,
    PERSON_PREPS,
    POSSESSIVE_WORKPLACE,
    SUBJECT_ORG,
    TENURE_AFTER,
    TRADE_TAILS,
    WORKPLACE_AFTER,
    cue_before,
    extend_back,
    find_dotted_orgs,
    find_of_orgs,
    has_designator,
    is_coined_brand,
)
from crucible.scrubber.person_cues import PERSON_CUE, PERSON_CUE_ENDS
from crucible.scrubber.spans import Span

WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]{2,}|-[^\W\d_]+)*")
# A capitalised word: starts with an upper-case letter and is not the tail of a longer word.
CAP_WORD = regex.compile(r"(?<![\p{L}\p{M}\d_'’-])\p{Lu}[\p{L}\p{M}]*(?:['’][\p{L}\p{M}]{2,}|-[\p{L}\p{M}]+)*")
# "Don't", "Can't", "I'll": the capitalised part of a contraction is never a name.
CONTRACTION = re.compile(r"['’](?:t|ll|re|ve|d|m)\b", re.IGNORECASE)

ORG_FORMAT = re.compile(
    r"\b([A-Z][^\W\d_]+), ([A-Z][^\W\d_]+),? and ([A-Z][^\W\d_]+)\b|\b[A-Z][^\W\d_]+ (?:and|&) Sons\b"
)
SENTENCE_END = '.!?:;"“”\n•*-–—(['


# Token classes.
STOP, COMMON, AMBIGUOUS, LISTED, UNKNOWN = "S", "C", "A", "G", "U"


_CLASS_CACHE: dict[int, dict[str, str]] = {}


def _class_cache(lex: Lexicon) -> dict[str, str]:
    cache = _CLASS_CACHE.get(id(lex))
    if cache is None:
        cache = _CLASS_CACHE[id(lex)] = {}
    return cache


def _word_class(word: str, lex: Lexicon) -> str:
    """Cached per lexicon: the same capitalised words come back record after record."""
    cache = _class_cache(lex)
    cls = cache.get(word)
    if cls is None:
        if len(cache) > 200_000:
            cache.clear()
        cls = cache[word] = _classify_word(word, lex)
    return cls


def _classify_word(word: str, lex: Lexicon) -> str:
    w = word.lower().replace("’", "'")
    if w in NEVER_NAMES or len(w) < 2:
        return STOP
    if "-" in w:
        parts = [_word_class(p, lex) for p in w.split("-") if p]
        for cls in (LISTED, UNKNOWN, AMBIGUOUS):
            if cls in parts:
                return cls
        return COMMON
    freq = lex.frequency(w)
    if lex.is_name(w):
        return AMBIGUOUS if freq >= AMBIGUOUS_ZIPF else LISTED
    if freq >= COMMON_ZIPF:
        return COMMON
    if word.isupper() and len(word) <= 4:  # an acronym, not a name
        return COMMON
    if _derived_from_everyday(w, lex):
        return COMMON
    return UNKNOWN


# An unknown word built from an everyday English word by an English suffix is a word, not a
# surname: "Hobbits" (hobbit), "Cautionary" (caution). Listed names never get here ("Peters").
_DERIVING_SUFFIXES = ("ary", "ness", "less", "ful", "ous", "ism", "ists", "ist", "ing", "ed", "es", "s")


def _derived_from_everyday(w: str, lex: Lexicon) -> bool:
    for suffix in _DERIVING_SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            stem = w[: -len(suffix)]
            if lex.frequency(stem) >= COMMON_ZIPF or lex.frequency(stem + "e") >= COMMON_ZIPF:
                return True
    return False


def _is_capitalised(word: str) -> bool:
    return word[0].isupper()


def _char_before(text: str, start: int) -> str:
    """The last character before `start` that is not a space or tab ("" at the text's start);
    a backward walk, not a copy of the whole prefix."""
    k = start - 1
    while k >= 0 and text[k] in " \t":
        k -= 1
    return text[k] if k >= 0 else ""


def _at_sentence_start(text: str, start: int) -> bool:
    before = _char_before(text, start)
    return not before or before in SENTENCE_END


def _at_line_start(text: str, start: int) -> bool:
    before = _char_before(text, start)
    return not before or before == "\n"


# "St. Luke's Hospital", "Children's Mercy": a possessive joins a run only towards a designator.
_ABBREVIATED = frozenset({"St", "Mt", "Ft"})
_POSSESSIVE_GAPS = frozenset({"'s ", "’s "})
# The longest gap that can join two capitalised words: two particles between spaces (" de la ").
_LONGEST_JOIN = 3 + 2 * max(map(len, PARTICLES))


def _possessive_joins(tokens: list[tuple[int, int, str]], k: int) -> bool:
    """True when the capitalised words from `k` on (joined by single spaces) end in a designator."""
    while k < len(tokens):
        if has_designator(tokens[k][2], tokens[k - 1][2]):
            return True
        if k + 1 >= len(tokens) or tokens[k + 1][0] - tokens[k][1] != 1:
            return False
        k += 1
    return False


def _runs(text: str) -> Iterator[list[tuple[int, int, str]]]:
    """Maximal runs of capitalised words joined by single spaces, initials ("D.") or particles.

    Only capitalised words are visited (one C-level scan with `regex`'s \\p{Lu}); what lies between
    two of them decides whether they belong to one run."""
    tokens = []
    for m in CAP_WORD.finditer(text):
        start, end = m.span()
        if text.startswith(("'", "’"), end) and CONTRACTION.match(text, end):
            continue
        tokens.append((start, end, m.group()))
    i = 0
    while i < len(tokens):
        run = [tokens[i]]
        j = i
        while j + 1 < len(tokens):
            if tokens[j + 1][0] - tokens[j][1] > _LONGEST_JOIN:
                break  # most gaps are whole clauses: neither copied nor split
            gap = text[tokens[j][1] : tokens[j + 1][0]]
            if (
                gap in (" ", "  ")
                or (gap == ". " and (len(tokens[j][2]) == 1 or tokens[j][2] in _ABBREVIATED))
                or (gap in _POSSESSIVE_GAPS and j + 1 < len(tokens) and _possessive_joins(tokens, j + 1))
            ):
                run.append(tokens[j + 1])
                j += 1
                continue
            words = gap.split(" ")
            # " van ", " de la ": lower-case particles between two capitalised words
            if (
                len(words) >= 3
                and words[0] == ""
                and words[-1] == ""
                and all(w in PARTICLES for w in words[1:-1])
                and len(words) <= 4
            ):
                run.append(tokens[j + 1])
                j += 1
                continue
            break
        yield run
        i = j + 1


# Possessive ("*+"): a name word is never given back letter by letter. Nothing that may follow one
# (a space, ", ", " - ", "-") can start inside it except at a hyphen, and a split there ("Smith" "-"
# "Jones") leaves the same pattern to match from the same place, so the matches are the same
# (tests/unit/scrubber/test_scrubber_pattern_openers.py); the legal-form scan took 2.5x as long.
_CAP = r"\p{Lu}[\p{L}\p{M}'’.-]*+"
_JOIN = r"(?:,? (?:&|and|und|y|e|i|ve|og|och|et|en|és) |, | - |-)"
_JOIN_FIRMS = r"(?:,? (?:&|and|und|y|e|i|ve|og|och|et|en|és) |, | - )"


def _company_pattern(lex: Lexicon) -> tuple[regex.Pattern[str], regex.Pattern[str], frozenset[str]]:
    """Capitalised names joined by "&", "and", ",", "-" ... and ending in a legal form from Faker's
    company providers ("Eriksson & Norberg HB", "Nissinen Tervo As Oy", "Cvitan Dautanec d.o.o."),
    or starting with a company prefix ("Grupa Łokietek-Nieborak", "PT Waskita")."""
    cached = _COMPANY_CACHE.get(id(lex))
    if cached is None:
        run = rf"{_CAP}(?: {_CAP})*"
        names = rf"{run}(?:{_JOIN}{run})*"
        suffixes = "|".join(regex.escape(x) for x in lex.company_suffixes)
        prefixes = "|".join(regex.escape(x) for x in lex.company_prefixes)
        legal = regex.compile(
            rf"(?<![\p{{L}}\p{{M}}])(?:{names}),? (?:{suffixes})(?![\p{{L}}\p{{M}}\d])"
            rf"|(?<![\p{{L}}\p{{M}}])(?:{prefixes}) {names}"
        )
        # "I work at Eriksson & Norberg": joined names right after a workplace preposition
        # (a bare hyphen there joins a double-barrelled surname, "Amina Michiels-Zaal", not two firms)
        joined = regex.compile(rf"(?<=\b(?:at|for|by|with) )(?:{run}(?:{_JOIN_FIRMS}{run})+)")
        # (a key ending in punctuation, "(Persero)", is never produced by stripping a word)
        keys = frozenset(x.split()[0].rstrip(".") for x in (*lex.company_suffixes, *lex.company_prefixes))
        keys = frozenset(k for k in keys if k[-1:] not in _TRAILING)
        cached = (legal, joined, keys)
        _COMPANY_CACHE[id(lex)] = cached
    return cached


_COMPANY_CACHE: dict[int, tuple[regex.Pattern[str], regex.Pattern[str], frozenset[str]]] = {}
_TRAILING = ".!?;:)\"'’”"


def _find_companies(text: str, lex: Lexicon) -> Iterator[regex.Match[str]]:
    legal, joined, keys = _company_pattern(lex)
    # The legal-form pattern is a long alternation: run it only when a suffix/prefix word is present.
    # (a legal form closing a sentence keeps its dots but not the sentence's "!" or "?")
    # Words are split at whitespace and commas and stripped of closing punctuation, all in C
    # (`map` over `str.rstrip`; no key ends in that punctuation, so a bare word matches as itself).
    words = text.replace(",", " ").split()
    if (
        not keys.isdisjoint(map(str.rstrip, words, repeat(_TRAILING)))
        # a possessive legal form: "Noack KG's CEO", "Kovač d.o.o.'s"
        or (
            ("'s" in text or "’s" in text)
            and any(w[:-2].rstrip(_TRAILING) in keys for w in words if w.endswith(("'s", "’s")))
        )
    ):
        yield from legal.finditer(text)
    if (" & " in text or " and " in text or ", " in text or "-" in text) and _JOINED_CUE.search(text):
        for m in joined.finditer(text):
            # "coffee with Jane and John": after "with / for / by" without a workplace cue, names
            # that open with a listed first name are people (the run rules type them)
            if (
                not text.startswith("at ", m.start() - 3)
                and m.group().split(None, 1)[0].lower() in lex.first_names
                and cue_before(text, m.start()) is None
            ):
                continue
            yield m


# `joined` opens with a workplace preposition and a capital: a plain `re` search for them (any
# letter but a-z stands in for a capital) turns away most texts before the lookbehind-first scan.
_JOINED_CUE = re.compile(r"(?:at|for|by|with) [^\W\d_a-z]")


def find_names(text: str, lex: Lexicon) -> Iterator[Span]:
    """PERSON and ORGANIZATION spans in `text`; a surname's lower-case particles before a span
    belong to it ("da Rocha", "van der Horst Groep")."""
    for span in _find_names(text, lex):
        s = span.start
        if s > 2 and text[s - 1] == " " and text[s - 2].islower():  # particles are lower-case words
            start = _particles_before(text, s)
            if start != s:
                span = Span(start, span.end, span.entity_type, span.score)
        yield span


# Lower-case particles that open a surname ("van Gogh", "da Silva", "von Trapp", "ten Brink");
# not "la", "el", "al" or "bin", which are everyday words in English or Spanish chat.
_NAME_PARTICLES = frozenset(
    {
        "van",
        "von",
        "vom",
        "zu",
        "der",
        "den",
        "de",
        "da",
        "di",
        "du",
        "del",
        "della",
        "dei",
        "le",
        "dos",
        "das",
        "het",
        "ten",
        "ter",
    }
)


def _particles_before(text: str, start: int) -> int:
    """Where a name starts once up to three particles right before `start` (single spaces) are
    taken in; `start` itself when there are none."""
    begin = start
    for _ in range(3):
        if begin < 2 or text[begin - 1] != " ":
            break
        k = begin - 1
        while k > 0 and text[k - 1].isalpha():
            k -= 1
        word = text[k : begin - 1]
        if word not in _NAME_PARTICLES or (k > 0 and not (text[k - 1].isspace() or text[k - 1] in '"“(')):
            break
        begin = k
    return begin


def _find_names(text: str, lex: Lexicon) -> Iterator[Span]:
    yield from find_cued_lower_names(text, lex)
    if text.islower():
        yield from find_lower_name_pairs(text, lex)
        yield from find_lower_single_names(text, lex)
    yield from find_lower_orgs(text, lex)
    if lex.company_suffixes:
        for m in _find_companies(text, lex):
            end = m.end()
            while end > m.start() and text[end - 1] in ".,-" and not _ends_with_suffix(text[m.start() : end], lex):
                end -= 1
            yield Span(m.start(), end, "ORGANIZATION")
    # ORG_FORMAT needs ", " and " and ", or " Sons": most texts have neither.
    org_formats = ORG_FORMAT.finditer(text) if (", " in text and " and " in text) or " Sons" in text else ()
    for m in org_formats:
        groups = [g for g in m.groups() if g]
        if all(_word_class(g, lex) in (LISTED, UNKNOWN, AMBIGUOUS) for g in groups):
            if m.lastindex and (
                PEOPLE_LIST_CUE.search(text, max(0, m.start() - 60), m.start())
                or sum(g.lower() in lex.first_names and g.lower() not in lex.last_names for g in groups) >= 2
            ):
                for k in range(1, 4):
                    yield Span(m.start(k), m.end(k), "PERSON")
            else:
                yield Span(m.start(), m.end(), "ORGANIZATION")
    for start, end in find_of_orgs(text):
        yield Span(extend_back(text, start), end, "ORGANIZATION")
    for start, end in find_dotted_orgs(text):
        yield Span(start, end, "ORGANIZATION")
    for run in _runs(text):
        span = _classify_run(text, run, lex)
        if span is not None:
            yield span


def _only_names(classes: list[str], first: int) -> bool:
    """Every class from `first` on is a listed name (counted in C, not a generator per run)."""
    tail = classes[first:]
    return tail.count(LISTED) + tail.count(AMBIGUOUS) == len(tail)


def _reads_as_person(words: list[str], classes: list[str], lex: Lexicon) -> bool:
    """ "an interview with Sarah Hall": a first name (and a surname or initial) and no designator."""
    return (
        len(words) <= 3
        and words[0].lower() in lex.first_names
        and classes[0] in (LISTED, AMBIGUOUS)
        and not has_designator(words[-1], words[-2] if len(words) > 1 else "")
    )


def _ends_with_suffix(value: str, lex: Lexicon) -> bool:
    return any(value.endswith(x) for x in lex.company_suffixes if x[-1] in ".,-")


def _quoted_title(text: str, run: list[tuple[int, int, str]], classes: list[str]) -> bool:
    """A title in quotation marks ("Carry Me Back To Canada", "Gone With The Wind") is a song or a
    book: three or more capitalised words, two of them everyday words, the whole run quoted."""
    if len(run) < 3:
        return False
    start, end = run[0][0], run[-1][1]
    if text[start - 1 : start] not in ('"', "“") or not any(q in text[end : end + 2] for q in ('"', "”")):
        return False
    return sum(c in (STOP, COMMON) for c in classes) >= 2


# "Mother's Day", "New Year's Eve", "Bonfire Night": a day named after its owner, not a person.
_HOLIDAY_HEADS = frozenset({"Day", "Eve", "Night", "Weekend"})


def _holiday_head(text: str, run: list[tuple[int, int, str]]) -> bool:
    start = run[0][0]
    return len(run) == 1 and run[0][2] in _HOLIDAY_HEADS and text[start - 3 : start] in ("'s ", "’s ")


# A listed name that is also a very frequent English word ("Will", "Long", "Young", "Hope", "Price"),
# alone and without a cue, is the word far more often than the name, wherever it stands; one English
# uses above all as a name ("John": name_first.py) stays a name.
# "Bowman and White", "White, Bowman": a frequent word coordinated with another name is a name.
_COORDINATED_BEFORE = regex.compile(r"\p{Lu}[\p{L}\p{M}'’-]+(?:,| and| &) $")
_COORDINATED_AFTER = regex.compile(r"(?:,| and| &) \p{Lu}[\p{L}\p{M}'’-]+")


# ... unless it stands where a person stands: the object of a person verb or preposition ("lunch with
# Summer", "talked to Young", "Is Young still your manager?"), or a pronoun later in the sentence
# refers back ("Summer ... she"). A leaked name costs more than a redacted word.
_PERSON_SLOT_BEFORE = regex.compile(
    r"(?i:\b(?:with|to|from|for|by|told|tell|met|meet|saw|see|ask|asked|call|called|text|texted|thank|thanks|hi|hey"
    r"|dear|is|was|does|did|has)\s+)$"
)
_PRONOUN_AFTER = regex.compile(r"[^.!?\n]{0,60}?\b(?i:she|he|her|him|his)\b")
# Whoever is coordinated with the writer is a person, at a sentence's start too ("Per and I broke
# up", "Summer and me").
_WITH_WRITER = regex.compile(r",? (?:and|&) (?:I|me)\b")


def _person_slot(text: str, start: int, end: int) -> bool:
    return (
        _PERSON_SLOT_BEFORE.search(text, max(0, start - 12), start) is not None
        or _PRONOUN_AFTER.match(text, end) is not None
    )


def _listed_with_names(text: str, start: int, end: int, lex: Lexicon) -> bool:
    before = _COORDINATED_BEFORE.search(text, max(0, start - 40), start)
    after = _COORDINATED_AFTER.match(text, end)
    for m in (before, after):
        if m is not None:
            word = m.group().strip(",& ").removeprefix("and ").strip()
            if _word_class(word, lex) in (LISTED, UNKNOWN):
                return True
    return False


# Plural everyday words that close a message or greet rather than name a firm ("Kyle Thanks").
_NOT_FIRM_TAILS = frozenset({"thanks", "cheers", "regards", "congrats", "kisses", "hugs", "greetings", "wishes"})


def _firm_tail(words: list[str], classes: list[str], first: int, run_last: int, lex: Lexicon) -> bool:
    """The everyday words after one name word make a firm: after a coined brand word, any one or two
    ("Northwind Traders"); after a surname that is no first name, a plural noun ending the run
    ("Bright Horizons"). A listed first name keeps its everyday surname ("Steve Jobs") elsewhere."""
    tail = words[first + 1 : run_last + 1]
    if len(tail) > 2 or any(c != COMMON for c in classes[first + 1 : run_last + 1]):
        return False
    head = words[first]
    if classes[first] == UNKNOWN and is_coined_brand(head, lex.zipf):
        return True
    low = tail[-1].lower()
    return (
        len(tail) == 1
        and classes[first] in (LISTED, UNKNOWN)
        and head.lower() not in lex.first_names
        and low.endswith("s")
        and not low.endswith(("ss", "'s", "’s"))
        and low not in _NOT_FIRM_TAILS
        and lex.frequency(low[:-1]) >= COMMON_ZIPF
    )


# After a cued organisation, what still belongs to its name though the run stopped: a possessive
# and the capitalised words after it ("Wendy's", "Dick's Sporting Goods"), "&" and a capitalised
# word ("Procter & Gamble", "Bed Bath & Beyond"), a dotted legal form ("Levante S.L.N.E").
_ORG_TAIL = regex.compile(
    r"(?:['’]s(?: \p{Lu}[\p{L}\p{M}'’-]*){0,3}|(?: & \p{Lu}[\p{L}\p{M}'’-]*)+|(?:\.\p{Lu}{1,4})+\.?)+"
)
_ORG_TAIL_OPENERS = frozenset("'’ .")


_APOSTROPHES = ("'", "’")


def _cued_org_tail(text: str, end: int, lex: Lexicon) -> int:
    m = _ORG_TAIL.match(text, end)
    if m is None:
        return end
    tail_end = m.end()
    # a weekday or a pronoun after the name is not part of it ("at Wendy's Monday", "at Wendy's I")
    while (space := text.rfind(" ", end, tail_end)) >= 0 and _word_class(text[space + 1 : tail_end], lex) == STOP:
        tail_end = space
    while tail_end > end and text[tail_end - 1] in " &":  # "at Acme & I ...": the "&" was the sentence's
        tail_end -= 1
    return tail_end


# One match says whether any of the four after-name cues can (most runs are followed by none).
_ANY_CUE_AFTER = re.compile(
    "|".join(f"(?:{p.pattern})" for p in (WORKPLACE_AFTER, OCCUPATION_AFTER, TENURE_AFTER, SUBJECT_ORG)), re.IGNORECASE
)
assert all(p.flags & re.IGNORECASE for p in (WORKPLACE_AFTER, OCCUPATION_AFTER, TENURE_AFTER, SUBJECT_ORG))


def _classify_run(text: str, run: list[tuple[int, int, str]], lex: Lexicon) -> Span | None:
    # Single capitals are initials, except the pronoun "I" ("Should I leave him?") unless written
    # as an initial ("John I. Smith"). (The cache is fetched once per run: nearly every word is in it.)
    cache = _class_cache(lex)
    classes = [
        (cache.get(w) or _word_class(w, lex))
        if len(w) > 1 or not w.isupper()
        else STOP
        if w == "I" and not text.startswith(".", e)
        else LISTED
        for _, e, w in run
    ]
    # Single capital letters are initials: part of a name only between name words.
    words = [w for _, _, w in run]
    first = 0
    while first < len(run) and (classes[first] == STOP or (len(words[first]) == 1 and first == 0)):
        first += 1
    if first == len(run):
        return None
    if _quoted_title(text, run, classes) or (
        len(run) == 1 and run[0][2] in _HOLIDAY_HEADS and _holiday_head(text, run)
    ):
        return None
    start = run[first][0]
    preceding = text[max(0, start - 48) : start]
    last_word = preceding.rstrip(" ,").rsplit(None, 1)[-1].lower().rstrip(".,") if preceding.strip() else ""
    last = len(run) - 1
    # The cue is read before the whole run: "I work for Us News Schools" keeps its first word.
    org_cue = cue_before(text, run[0][0])
    if org_cue is not None and not (org_cue in PERSON_PREPS and _reads_as_person(words[first:], classes[first:], lex)):
        org_last = len(run) - 1
        while org_last > 0 and classes[org_last] == STOP:  # "after my shift at Home Depot I ..."
            org_last -= 1
        end = run[org_last][1]
        if org_last == len(run) - 1 and text[end : end + 1] in _ORG_TAIL_OPENERS:
            end = _cued_org_tail(text, end, lex)
        return Span(extend_back(text, run[0][0]), end, "ORGANIZATION")
    end = run[-1][1]
    # A cue after the name (cheap matches first; whether the run reads as a person only then).
    # (the after-name patterns all open with a space or a possessive: one look at the next character)
    after = text[end : end + 1]
    if (
        (
            (
                after == " "
                and _ANY_CUE_AFTER.match(text, end) is not None
                and (
                    WORKPLACE_AFTER.match(text, end) is not None
                    # an occupation only after two words or more: "the Uber driver" is a brand
                    or (len(run) - first >= 2 and OCCUPATION_AFTER.match(text, end) is not None)
                    or (last_word == "at" and TENURE_AFTER.match(text, end) is not None)
                    or (SUBJECT_ORG.match(text, end) is not None and _at_sentence_start(text, start))
                )
            )
            or (after in _APOSTROPHES and POSSESSIVE_WORKPLACE.match(text, end) is not None)
        )
        and not (_only_names(classes, first) or _reads_as_person(words[first:], classes[first:], lex))
        and not (last_word in PERSON_CUE_ENDS and PERSON_CUE.search(preceding) is not None)
    ):
        return Span(start, end, "ORGANIZATION")
    if last > first and (
        has_designator(words[last], words[last - 1])
        or (words[last].lower() in TRADE_TAILS and (last - first >= 2 or classes[last - 1] != COMMON))
    ):
        return Span(extend_back(text, start), run[last][1], "ORGANIZATION")
    # A name the lists cannot call a person's (everyday words, an acronym) as the subject of a
    # reporting verb or the owner of a business noun: "General Electric said", "IBM's CEO".
    # (classes counted first: most runs are not of that kind, and the pattern is the costlier test)
    if text[end : end + 1] in (" ", "'", "’"):
        tail = classes[first:]
        named = len(tail) - tail.count(STOP)
        if named and tail.count(COMMON) == named:
            word = next(w for w, c in zip(words[first:], tail, strict=True) if c != STOP)
            acronym = named == 1 and len(word) >= 2 and word.isupper() and word not in NOT_ORG_ACRONYMS
            if (acronym or named >= 2) and NEWS_AFTER.match(text, end):
                return Span(start, end, "ORGANIZATION")
    cued = last_word in PERSON_CUE_ENDS and PERSON_CUE.search(preceding) is not None
    if not cued:
        while first < len(run) and classes[first] in (STOP, COMMON):
            first += 1
        # A capitalised word after a listed first name (and its initials) is a surname, even an
        # ordinary word ("Moira Pagan", "Zoe Young", "Jildau S Bouts").
        keep_to = first
        for k in range(first, len(run)):
            if (
                classes[k] in (LISTED, UNKNOWN, AMBIGUOUS)
                or (k > first and len(words[k]) == 1 and classes[k] != STOP)
                or (classes[k] == COMMON and k > first and words[k - 1].lower() in lex.first_names)
                # (the pronoun "I" is no initial: "Can I Get" is not "Jildau S Bouts")
                or (classes[k] == COMMON and k > first + 1 and len(words[k - 1]) == 1 and classes[k - 1] != STOP)
            ):
                keep_to = k
        run_last = last
        while last > keep_to and (classes[last] in (STOP, COMMON) or len(words[last]) == 1):
            last -= 1
        if last < first:
            return None
        # "Bright Horizons", "Northwind Traders", "Johnson Controls": a surname or a coined word
        # followed by everyday nouns is a firm's name; trimming them would leave half the employer
        # in the text (the other half read as a person).
        if last == first and run_last > last and _firm_tail(words, classes, first, run_last, lex):
            return Span(run[first][0], run[run_last][1], "ORGANIZATION")
        speaker_label = text.startswith(":", run[last][1]) and _at_line_start(text, run[first][0])
        if (
            first == last
            and classes[first] == AMBIGUOUS
            and words[first].lower() not in name_first_words()
            and not speaker_label
            and not _listed_with_names(text, run[first][0], run[first][1], lex)
            and (_at_sentence_start(text, run[first][0]) or not _person_slot(text, run[first][0], run[first][1]))
            and _WITH_WRITER.match(text, run[first][1]) is None
        ):
            return None
        # "Plan B", "Vitamin D" shapes: a frequent word and initials only
        if classes[first] == AMBIGUOUS and last > first and all(len(words[k]) == 1 for k in range(first + 1, last + 1)):
            return None
        # the pronoun inside a run ends any name reading: "Will I Ever", "Man I Love It"
        if (
            last > first
            and "I" in words[first + 1 : last + 1]
            and any(classes[k] == STOP and words[k] == "I" for k in range(first + 1, last + 1))
        ):
            return None
    else:
        while last > first and classes[last] == STOP:
            last -= 1
    if first == last and classes[first] == UNKNOWN and not cued and is_coined_brand(words[first], lex.zipf):
        return Span(run[first][0], run[last][1], "ORGANIZATION")
    return Span(run[first][0], run[last][1], "PERSON")
