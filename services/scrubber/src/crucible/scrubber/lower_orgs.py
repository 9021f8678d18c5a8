"""Organisations typed in lower case ("i got promoted at cookborough insurance", "we're members of
bennett-randall", "my shift at port stevenbury llc").

Chat is often typed without capitals, so the capitalised-run rules in `names.py` never see these
names. Here a run of lower-case words is an organisation when

- a workplace / study / care / membership cue stands before it (`orgs.cue_before`) and the run
  holds a name-like word (a listed name that is not an everyday word, or a word English does not
  know) and ends in a designator or legal form, reads as a company ("smith-french", "wilson and
  sons", "hubbard, fox and gillespie"), or is one to three name-like words that do not read as a
  person;
- or, without a cue, it ends in a designator ("malone middle school", "tůmová credit union") and
  the words before the designator are name-like ("the local hospital", "the farmers market" stay).

Everyday words never start a name here ("my shift at the hospital", "i work at home").
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

from crucible.scrubber.lexicon import COMMON_ZIPF, NEVER_NAMES, Lexicon
from crucible.scrubber.orgs import DESIGNATORS, PEOPLE_LIST_CUE, PERSON_PREPS, cue_before, has_designator
from crucible.scrubber.spans import Span

# A listed name rarer than this is a name, not an everyday word ("munro" yes, "will" no).
_NAME_MAX_ZIPF = 4.3
# Words that may stand inside a designator phrase before its head ("middle school", "credit
# union", "medical center", "golf club") or open a place name ("new tina", "port stevenbury").
_DESIGNATOR_LEAD = frozenset(
    [
        "high",
        "middle",
        "junior",
        "senior",
        "primary",
        "secondary",
        "elementary",
        "community",
        "medical",
        "credit",
        "federal",
        "golf",
        "country",
        "tennis",
        "yacht",
        "rotary",
        "baptist",
        "methodist",
        "catholic",
        "lutheran",
        "presbyterian",
        "evangelical",
        "memorial",
        "general",
        "regional",
        "county",
        "state",
        "city",
        "national",
        "dental",
        "animal",
        "public",
        "family",
        "urgent",
        "health",
        "care",
        "christian",
        "children's",
        "women's",
        "veterans",
    ]
)
_PLACE_LEAD = frozenset(
    [
        "new",
        "north",
        "south",
        "east",
        "west",
        "port",
        "lake",
        "mount",
        "fort",
        "saint",
        "st.",
        "san",
        "santa",
        "glen",
        "upper",
        "lower",
    ]
)
# Particles inside surnames and place names ("van der heyden", "la chaux-de-fonds", "da cruz").
_PARTICLES = frozenset(
    ["van", "der", "den", "de", "del", "della", "di", "da", "dos", "das", "du", "la", "le", "von", "ter", "ten"]
)
_JOINERS = frozenset({"and", "&", "und", "y", "e", "et", "og", "och", "és", "i"})
# "x and sons", "x e filhos", "x y hermanos": a family firm.
_KIN = frozenset(
    {"sons", "brothers", "bros", "bros.", "filhos", "figli", "hijos", "hermanos", "fils", "söhne", "zonen"}
)
_EXTRA_DESIGNATORS = _KIN | frozenset({"s.a.", "s.p.", "j.d.o.o.", "d.o.o.", "kht."})
# Lower-case words with their offsets; "&" and "," kept as tokens to read "x, y and z".
_TOKEN = regex.compile(r"[\p{L}\p{M}][\p{L}\p{M}'’./-]*[\p{L}\p{M}.]|[\p{L}\p{M}]|&|,")
_CUE_PREP = regex.compile(
    r"\b(?:at|for|with|by|from|to|of|into|through|quit|attends?|attended|attending|left)\s+(?:the\s+)?(?=\p{Ll})"
)
_RUN_MAX = 7
# Any capital except the pronoun "I" ("I", "I'm", "I've") shows the writer uses capitals.
_CAPITAL = regex.compile(r"(?!I(?![\p{L}\p{M}]))\p{Lu}")
_END_DROP = frozenset({","}) | _DESIGNATOR_LEAD | _PLACE_LEAD


_LEADS_MAX = 2
# A listed name at most this frequent closes an employer's name after an everyday word ("golden
# mills": 4.2, "bright harris": 4.4; "social media": 5.1 is the noun).
_CLOSING_NAME_MAX_ZIPF = 4.6
# Words that never open a company's name, however frequent their other uses: function words,
# times and quantities ("at least", "at night", "for now", "with some").
_NOT_LEADS_TEXT = (
    "all any some every each both many much more most few least less last next first other another own "
    "same such no not now then there here home work school night noon midnight lunch dinner breakfast "
    "once twice one two three four five six seven eight nine ten half times time day week month year "
    "years months weeks days least about around over under after before into onto upon only just even "
    "still also very really so too him her them us me you it his hers its their theirs our ours your "
    "yours mine who whom whose which what where when why how that this these those "
)
_NOT_LEADS = frozenset(_NOT_LEADS_TEXT.split())


def _everyday_lead(word: str, lex: Lexicon) -> bool:
    """An everyday word that can open a company's name ("little", "golden", "blue")."""
    return word.isalpha() and word not in NEVER_NAMES and word not in _NOT_LEADS and lex.frequency(word) >= COMMON_ZIPF


def _name_like(word: str, lex: Lexicon) -> bool:
    """A listed name that is not an everyday word, or a word English does not know."""
    parts = [p for p in word.rstrip(".").split("-") if p]
    if not parts or any(p in NEVER_NAMES for p in parts):
        return False
    for p in parts:
        freq = lex.frequency(p)
        if not ((lex.is_name(p) and freq < _NAME_MAX_ZIPF) or (freq < COMMON_ZIPF and len(p) > 2)):
            return False
    return True


def _name_loose(word: str, lex: Lexicon) -> bool:
    """Any listed name or unknown word: enough beside a designator or in a company's shape
    ("johnson library", "scott, howard and vaughn", "stewart-brown", "industrias mv s.a.")."""
    parts = [p for p in word.rstrip(".").split("-") if p]
    if not parts or any(p in NEVER_NAMES for p in parts):
        return False
    return all(lex.is_name(p) or lex.frequency(p) < COMMON_ZIPF for p in parts)


def _is_designator(word: str, prev: str, lex: Lexicon) -> bool:
    bare = word.rstrip(".")
    return (
        has_designator(word, prev)
        or word in _EXTRA_DESIGNATORS
        or bare in _EXTRA_DESIGNATORS
        or word in _legal_forms(lex)
        or bare in _legal_forms(lex)
    )


def _legal_forms(lex: Lexicon) -> frozenset[str]:
    """Faker's one-word legal forms in lower case ("asa", "oy", "s.p.a.", "kft.")."""
    cached = _LEGAL_CACHE.get(id(lex))
    if cached is None:
        cached = frozenset(x.lower() for x in lex.company_suffixes if " " not in x and len(x) >= 2)
        _LEGAL_CACHE[id(lex)] = cached
    return cached


_LEGAL_CACHE: dict[int, frozenset[str]] = {}


def _last_words(lex: Lexicon) -> frozenset[str]:
    """Every word that can end an organisation's name here: one set lookup per word of the text."""
    cached = _LAST_CACHE.get(id(lex))
    if cached is None:
        cached = frozenset(DESIGNATORS) | _EXTRA_DESIGNATORS | _legal_forms(lex)
        cached = cached | frozenset(w.rstrip(".") for w in cached) | {"union"}
        _LAST_CACHE[id(lex)] = cached
    return cached


_LAST_CACHE: dict[int, frozenset[str]] = {}


def find_lower_orgs(text: str, lex: Lexicon) -> Iterator[Span]:
    """ORGANIZATION spans for organisation names written in lower case, in a message typed
    without capitals (a message that capitalises its sentences capitalises its names too, and
    there a lower-case word after "at" is an ordinary word: "the sale at costco-size prices")."""
    if _CAPITAL.search(text):
        return
    tokens: list[tuple[int, int, str]] | None = None
    for m in _CUE_PREP.finditer(text):
        if cue_before(text, m.end()) is None:
            continue
        if tokens is None:
            tokens = [(t.start(), t.end(), t.group()) for t in _TOKEN.finditer(text)]
        span = _cued_run(text, tokens, m.end(), lex, m.group().split()[0].lower())
        if span is not None:
            yield span
    words = text.split()
    if not _last_words(lex).isdisjoint(w.strip(".,!?;:") for w in words):
        if tokens is None:
            tokens = [(t.start(), t.end(), t.group()) for t in _TOKEN.finditer(text)]
        yield from _designated_runs(text, tokens, lex)
    if "-" in text or "," in text:
        if tokens is None:
            tokens = [(t.start(), t.end(), t.group()) for t in _TOKEN.finditer(text)]
        yield from _company_shapes(text, tokens, lex)


def _surname(word: str, lex: Lexicon) -> bool:
    """A listed name, or a word rare enough to be one ("voss", "mcallister")."""
    return word not in NEVER_NAMES and (lex.is_name(word) or lex.frequency(word) < _SURNAME_RARE_ZIPF)


_SURNAME_RARE_ZIPF = 3.5


def _company_shapes(text: str, tokens: list[tuple[int, int, str]], lex: Lexicon) -> Iterator[Span]:
    """Faker-style firm names without a cue: "anderson, walton and mcconnell" (three surnames,
    not after "my friends"), "cook-gomez" (two surnames, one of them not an everyday word)."""
    n = len(tokens)
    for k, (s, e, w) in enumerate(tokens):
        if "-" in w:
            parts = w.split("-")
            if (
                len(parts) == 2
                and all(len(p) >= 3 and _surname(p, lex) for p in parts)
                and any(p in lex.last_names for p in parts)
                and min(lex.frequency(p) for p in parts) < _HYPHEN_RARE_ZIPF
            ):
                yield Span(s, e, "ORGANIZATION")
        if k + 4 < n and tokens[k + 1][2] == "," and tokens[k + 3][2] in _JOINERS | {","}:
            last = k + 4 if tokens[k + 3][2] != "," else k + 5
            if tokens[k + 3][2] == "," and (last >= n or tokens[k + 4][2] not in _JOINERS):
                continue
            words = [w, tokens[k + 2][2], tokens[last][2]] if last < n else []
            if (
                len(words) == 3
                and all(_surname(x, lex) for x in words)
                and sum(x in lex.last_names for x in words) >= 2
            ):
                if PEOPLE_LIST_CUE.search(text, max(0, s - 60), s):
                    continue
                yield Span(s, _trim(text, tokens[last][1]), "ORGANIZATION")


_HYPHEN_RARE_ZIPF = 4.0


def _index_at(tokens: list[tuple[int, int, str]], start: int) -> int | None:
    for k, (s, _, _) in enumerate(tokens):
        if s == start:
            return k
        if s > start:
            return None
    return None


def _gap_ok(text: str, a: int, b: int) -> bool:
    gap = text[a:b]
    return gap in (" ", ", ", ",") or (gap == "" and text[b : b + 1] == ",")


def _cued_run(text: str, tokens: list[tuple[int, int, str]], start: int, lex: Lexicon, prep: str) -> Span | None:
    k = _index_at(tokens, start)
    if k is None:
        return None
    run: list[tuple[int, int, str]] = []
    # Everyday words that open the name ("little caesars", "golden corral"): kept only when a
    # name-like word follows them inside the run.
    leads = 0
    for j in range(k, min(len(tokens), k + _RUN_MAX)):
        s, e, w = tokens[j]
        if not w[:1].islower() and w not in ("&", ","):
            break
        if run and not (_gap_ok(text, run[-1][1], s) or w == ","):
            break
        low = w.lower()
        prev = run[-1][2] if run else ""
        if leads == len(run) and leads < _LEADS_MAX and _everyday_lead(low, lex) and _gap_ok(text, e, e + 1):
            run.append((s, e, low))
            leads += 1
            continue
        if (
            _name_loose(low, lex)
            or _is_designator(low, prev, lex)
            or low in _PARTICLES
            or low in _DESIGNATOR_LEAD
            or low in _PLACE_LEAD
            or (run and (low in _JOINERS or low == ","))
        ):
            run.append((s, e, low))
            continue
        break
    while run and (
        run[-1][2] in _JOINERS
        or run[-1][2] in _PARTICLES
        or (run[-1][2] in _END_DROP and not _is_designator(run[-1][2], run[-2][2] if len(run) > 1 else "", lex))
    ):
        run.pop()
    if len(run) <= leads:
        # two everyday words, the last a listed name rarer than a common noun, read as leads only
        # ("golden mills", "bright harris"): the name closes the employer's name ("social media" stays)
        if (
            leads < 2
            or not lex.is_name(run[-1][2])
            or lex.frequency(run[-1][2]) >= _CLOSING_NAME_MAX_ZIPF
            or (prep in PERSON_PREPS and run[0][2] in lex.first_names)
        ):
            return None
        return Span(run[0][0], _trim(text, run[-1][1]), "ORGANIZATION")
    if leads:
        # the everyday words count only before a name: "little caesars", "golden mills", not "work";
        # any listed name will do after them ("bright harris"), or "golden" stays in the text and
        # "mills" is read as a person
        if not all(_name_loose(w, lex) for _, _, w in run[leads:]):
            return None
        if len(run) > 4 or (prep in PERSON_PREPS and run[leads][2] in lex.first_names):
            return None
        return Span(run[0][0], _trim(text, run[-1][1]), "ORGANIZATION")
    words = [w for _, _, w in run if w not in _JOINERS and w != "," and w not in _PARTICLES]
    names = [w for w in words if _name_loose(w, lex)]
    if not names:
        return None
    last = words[-1]
    designated = _is_designator(last, words[-2] if len(words) > 1 else "", lex) and len(words) >= 2
    joined = len(words) >= 2 and any(w in _JOINERS or w == "," for _, _, w in run) and len(names) >= 2
    hyphenated = len(words) == 1 and "-" in words[0] and len(names) == 1
    if not (designated or joined or hyphenated):
        if len(words) > 3 or not all(_name_like(w, lex) for w in words):
            return None
        # "an interview with sarah hall": after a preposition that also takes people, a listed
        # first name (and surname) is a person; the name rules type it.
        if prep in PERSON_PREPS and words[0] in lex.first_names:
            return None
    return Span(run[0][0], _trim(text, run[-1][1]), "ORGANIZATION")


def _trim(text: str, end: int) -> int:
    # A sentence full stop is not the name's ("... at munro llc."), an abbreviation's is ("s.a.").
    if text[end - 1 : end] == "." and text[end - 3 : end - 2] != ".":
        word_start = max(text.rfind(" ", 0, end), -1) + 1
        if text[word_start : end - 1].lower() not in ("inc", "ltd", "corp", "co", "bros", "st"):
            return end - 1
    return end


def _designated_runs(text: str, tokens: list[tuple[int, int, str]], lex: Lexicon) -> Iterator[Span]:
    """Lower-case runs ending in a designator whose leading words are name-like, anywhere."""
    for k, (_, e, w) in enumerate(tokens):
        low = w.lower().rstrip(".")
        if not w[:1].islower() or not _is_designator(low, tokens[k - 1][2].lower() if k else "", lex):
            continue
        j = k
        while j > 0 and tokens[j - 1][2] in _DESIGNATOR_LEAD and _gap_ok(text, tokens[j - 1][1], tokens[j][0]):
            j -= 1
        if tokens[k][2].rstrip(".") in _KIN and j >= 2 and tokens[j - 1][2] in _JOINERS:
            j -= 1  # "pettersen and sons": the joiner belongs to the name
        first_name_like = j
        while (
            first_name_like > 0
            and tokens[first_name_like - 1][2][:1].islower()
            and _gap_ok(text, tokens[first_name_like - 1][1], tokens[first_name_like][0])
            and text[tokens[first_name_like - 1][1] : tokens[first_name_like][0]] == " "
            and (
                _name_like(tokens[first_name_like - 1][2].lower(), lex)
                or tokens[first_name_like - 1][2].lower() in lex.last_names
                or tokens[first_name_like - 1][2] in _PLACE_LEAD
            )
        ):
            first_name_like -= 1
        if first_name_like == j:
            continue
        lead = tokens[first_name_like][2]
        if lead in _PLACE_LEAD and first_name_like + 1 == j:
            continue
        yield Span(tokens[first_name_like][0], _trim(text, e), "ORGANIZATION")
