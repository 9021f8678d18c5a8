"""Street addresses: a house number or a cue ("lives on", "the corner of", "Address:") followed by
capitalised words, numbers, unit markers and line breaks, up to the end of the clause.

International layouts ("22120 Eriksbo Västergärde 78\\n Suite 721\\n ASKIM\\n Sweden") have no
fixed order, so the scanner accepts address-shaped tokens and stops at the first ordinary
lower-case word or sentence punctuation; a candidate must then look like an address (a street
word, a unit marker, a postcode-sized number, a line break or an unknown proper noun).
About 610 lines on purpose: the token classes, the scanner and the acceptance test depend on each
other's details; split apart, each rule would be read without the others it balances.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from itertools import chain

import regex

from crucible.scrubber.lexicon import COMMON_ZIPF, Lexicon
from crucible.scrubber.spans import Span

STREET_WORDS = frozenset(
    [
        "street",
        "st",
        "st.",
        "road",
        "rd",
        "rd.",
        "avenue",
        "ave",
        "ave.",
        "drive",
        "dr",
        "dr.",
        "lane",
        "ln",
        "ln.",
        "boulevard",
        "blvd",
        "blvd.",
        "way",
        "court",
        "ct",
        "ct.",
        "place",
        "pl",
        "pl.",
        "terrace",
        "circle",
        "cir",
        "highway",
        "hwy",
        "parkway",
        "pkwy",
        "square",
        "sq",
        "close",
        "crescent",
        "cres",
        "row",
        "alley",
        "walk",
        "gardens",
        "grove",
        "hill",
        "park",
        "pass",
        "plaza",
        "trail",
        "loop",
        "mews",
        "strasse",
        "straße",
        "gasse",
        "gata",
        "gatan",
        "vägen",
        "vej",
        "veien",
        "weg",
        "laan",
        "straat",
        "rue",
        "calle",
        "via",
        "viale",
        "avenida",
        "rua",
        "rúa",
        "ulica",
        "utca",
        "katu",
        "tie",
        "gade",
        "allee",
        "platz",
        # Slovene, Croatian, Czech and Hungarian street types that follow the name ("Srednja pot
        # 670", "Šilobodov put 0", "Petőfi Sándor tér 242.", "Trg Revolucije 17").
        "pot",
        "put",
        "cesta",
        "trg",
        "tér",
        "út",
        "tee",
        # abbreviated: Hungarian "u." (utca, after the name), Polish "ul." (ulica, before it)
        "u.",
        "ul.",
    ]
)
UNIT_WORDS = frozenset(
    [
        "apt",
        "apt.",
        "apartment",
        "suite",
        "ste",
        "ste.",
        "unit",
        "box",
        "floor",
        "fl",
        "fl.",
        "room",
        "rm",
        "#",
        "psc",
        "po",
        "p.o.",
        "bldg",
        "flat",
        "level",
        "studio",
        "edif.",
        "depto.",
        "piso",
        "no.",
        "nr.",
        "h.no.",
        "fpo",
        "apo",
        "dpo",
    ]
)
# Lower-case words that occur inside addresses: unit markers and the particles of street names
# ("Paseo del Atlántico", "Via dei Fiorentini", "Begunje na Gorenjskem").
LOWER_OK = frozenset(
    [
        "los",
        "las",
        "el",
        "nan",
        "apt",
        "apt.",
        "suite",
        "ste",
        "unit",
        "box",
        "floor",
        "de",
        "del",
        "dei",
        "della",
        "di",
        "da",
        "do",
        "dos",
        "das",
        "du",
        "la",
        "le",
        "les",
        "van",
        "von",
        "der",
        "den",
        "na",
        "y",
        "i",
        "an",
        "am",
        "im",
        "sur",
        # Czech place names: "Náměšť nad Oslavou", "Hradec pod Sněžkou"
        "nad",
        "pod",
    ]
)
# Street-type words that come before the name in many countries ("ul. Miła 53", "Via Tasso 129").
START_STREET_TYPE = re.compile(
    r"(?<![\w.])(?:ul\.|u\.|al\.|rue|rua|Via|Viale|Rua|Rue|Avenue|Avenida|Av\.|Calle|Carrer|Paseo|Piazza|Plaza|Boulevard|"
    r"Strada|Chemin|Route|Rruga|Ulica|Utca|Calea|Str\.|"
    # Polish "pl." / "os.", Portuguese "R.", Indonesian "Gang" / "Jl.", Slovene "Pot", "Trg"
    r"pl\.|os\.|R\.|Gang|Jl\.|Jalan|Pot|Trg)\s+(?=[^\W\d_])"
)

# The first digit, then what may not stand before it (not the lookbehind first): `re` skips to a
# pattern's opening character class in C, but tries a pattern that opens with a lookbehind at
# every position of the text.
START_NUMBER = re.compile(
    r"\d(?<![\w.,:/-]\d)\d{0,5}[A-Za-z]?(?:[-/]\d{1,6}[A-Za-z]?)?(?=,?[ \t\n]+(?:\d{1,5}[ \t]+)?[^\W\d_])"
)
START_MILITARY = re.compile(
    r"\b(?:PSC|Unit|P\.? ?O\.? Box|Studio|Level|Flat|Apartment|Apt\.?|Suite|H\.No\.|Floor|"
    # post-office boxes in English, Portuguese, Spanish, German, Dutch, French and Polish
    r"Post Office Box|Caixa Postal|Apartado(?: de Correos)?|Postfach|Postbus|Casilla(?: de Correos?)?|"
    r"Boîte [Pp]ostale|Skrytka [Pp]ocztowa)\s+\d+|"
    # a bare "Box" (rural US) or French "BP" only when a postcode follows on the same or the next
    # line ("Box 881, Westfield 45967", "BP 45, 75008 Paris", "27-732", "E2 7BU", "R7N 9G4",
    # "D93FE43"): "Box 4, Shelf 2" is no address
    r"\b(?:Box|BP|B\.P\.) \d+(?=(?:,[ \t]*|[ \t]*\n)[^\n]*(?:\d\d[- ]?\d\d"
    r"|\b[A-Z][A-Z\d]{1,3} ?\d[A-Z\d]{2}\b|\b[A-Z]\d[\dW] ?[A-Z\d]{4}\b))|"
    # Philippine block and lot before the street ("B12 L88 Cypress Village", "Blk 4 Lot 7")
    r"\b(?:B|Blk\.?|Block) ?\d{1,3},? (?:L|Lot) ?\d{1,3}(?= [A-Z])|"
    r"\b(?:USNS|USS|USNV|USCGC) [A-Z][^\W\d_]+\n"
)
# Words without which START_MILITARY cannot match ("P.O. Box" holds "Box", "USNS" ... "US").
_MILITARY_GATE = re.compile(
    r"PSC|Unit|Box|Studio|Level|Flat|Apartment|Apt|Suite|H\.No\.|Floor|US|Post|Caixa|Apartado|Casilla|Boîte|Skrytka|"
    r"BP|B\.P\.|B\d|Blk|Block"
)
START_CORNER = re.compile(r"\b(?:the )?(?:corner|intersection|junction) of ", re.IGNORECASE)
_CORNER_KEYS = ("corner of ", "intersection of ", "junction of ")
# Words without which START_CUE cannot match.
_CUE_KEYS = ("live", "address", "located", "moved to", "enter on", "office is", "meet me at")
START_CUE = re.compile(
    r"(?:\blives? (?:on|at)|\blived (?:on|at)|\baddress(?: is|:)|\blocated (?:on|at)|\bmoved to|\benter on|"
    r"\boffice is (?:on|at)|\bmeet me at)\s+(?=(?:[^\W\d_]+\.?,? ){1,4}\d)",
    re.IGNORECASE,
)
TOKEN = re.compile(
    # " - " joins an address's parts in Brazil and Portugal ("Avenida Paulista, 1578 - Bela Vista")
    r"[ \t]*(?:,[ \t]*)?(?:\n[ \t]*)?(?:,[ \t]*)?(?:(?<=[ \t])-[ \t]+)?"
    r"(?P<tok>\([^\W\d_]+(?: [^\W\d_]+)?\)"
    # "S/N" (sem / sin número) stands for the house number; "3º", "2ª" are floors; "5th" a street
    r"|[Ss]/[Nn]\b|\d{1,4}[ºª°](?!\w)|\d{1,4}(?:st|nd|rd|th)\b|&(?=[ \t])"
    r"|\d{1,6}[A-Za-z]?(?:[-/]\d{1,6}[A-Za-z]?)?\b(?:\.(?=[ \t]*[,\n]))?"
    r"|[A-Z]{1,2}-\d{3,6}\b|(?=[A-Z0-9]*\d)[A-Z0-9]{3,8}\b"
    r"|[^\W\d_]+-\d{3,6}\b|(?i:depto|edif|apto|bldg|int)\.|#\s?\d+|(?:[^\W\d_]\.){2,3}|[^\W\d_]{1,4}\.(?=[ \t\n,])"
    # a German street abbreviated before its number ("Puntigamstr. 53", "Löchelstr. 79")
    r"|[^\W\d_]+str\.(?=[ \t]+\d)"
    r"|[^\W\d_]+(?:['’\-][^\W\d_]+)*)"
)


# Inside an address, a lower-case word is still part of it when it is a street or unit word, an
# abbreviation ("ul.", "u."), or not an English word at all ("út", "tee", "d'Ouchy").
RARE_WORD_ZIPF = 2.5


def _is_street_word(low: str, lex: Lexicon) -> bool:
    """Cached: the scanners ask about the same words again and again."""
    key = (id(lex), low)
    hit = _STREET_WORD_CACHE.get(key)
    if hit is None:
        if len(_STREET_WORD_CACHE) > 100_000:
            _STREET_WORD_CACHE.clear()
        hit = _STREET_WORD_CACHE[key] = _street_word(low, lex)
    return hit


_STREET_WORD_CACHE: dict[tuple[int, str], bool] = {}


def _street_word(low: str, lex: Lexicon) -> bool:
    if low in STREET_WORDS or low in lex.street_suffixes or low in lex.street_prefixes:
        return True
    # Compound street names: "Idrottsvägen", "Ringhoferstraße", "Ringhoferstr.", "Wirthplatz".
    if low.endswith("str."):
        return True
    if len(low) < 6 or lex.frequency(low) >= COMMON_ZIPF:
        return False
    suffixes, lengths = _compound_suffixes(lex)
    return any(low[-n:] in suffixes for n in lengths if n < len(low))


def _compound_suffixes(lex: Lexicon) -> tuple[frozenset[str], tuple[int, ...]]:
    cached = _SUFFIX_CACHE.get(id(lex))
    if cached is None:
        suffixes = frozenset(x for x in lex.street_suffixes | STREET_WORDS if len(x) >= 4 and x.isalpha())
        cached = (suffixes, tuple(sorted({len(x) for x in suffixes})))
        _SUFFIX_CACHE[id(lex)] = cached
    return cached


_SUFFIX_CACHE: dict[int, tuple[frozenset[str], tuple[int, ...]]] = {}


def _accept(tok: str, lex: Lexicon, corner: bool) -> bool:
    if tok == "&":
        return corner
    if tok[0].isdigit() or tok[0] in "#(":
        return True
    if tok.lower() in _SIGN_OFFS:
        return False
    if tok[0].isupper():
        return True
    low = tok.lower()
    if low in LOWER_OK or _is_street_word(low, lex) or low in UNIT_WORDS or (corner and low == "and"):
        return True
    if low.endswith(".") and len(low) <= 4:
        return True
    return lex.frequency(low) < RARE_WORD_ZIPF and not lex.is_name(low)


def _street_name_part(text: str, m: re.Match[str], lex: Lexicon) -> bool:
    """A lower-case given name inside a street's name, as people type them ("Dózsa györgy út 93",
    "Arany jános utca 151"): accepted when a street word follows it on the same line."""
    tok = m.group("tok")
    if not tok.isalpha() or not tok.islower() or not lex.is_name(tok) or "\n" in m.group():
        return False
    nxt = TOKEN.match(text, m.end())
    return nxt is not None and "\n" not in nxt.group() and _is_street_word(nxt.group("tok").lower(), lex)


def _looks_like_address(tokens: list[str], text: str, lex: Lexicon, cued: bool) -> bool:
    has_number = any(t[0].isdigit() or t in _NO_NUMBER for t in tokens)
    words = [t for t in tokens if t[0].isalpha()]
    if not has_number or not words or len(tokens) < 2:
        return False
    if cued or "\n" in text:
        return True
    number_first = tokens[0][0].isdigit()
    for t in tokens:
        low = t.lower()
        if _is_street_word(low, lex) or low in UNIT_WORDS:
            return True
        if number_first and low in lex.street_suffixes_all:
            return True
        if t[0].isdigit() and len(t.rstrip(".")) >= 5:
            return True
        if t[0].isalpha() and lex.frequency(low) < COMMON_ZIPF and not lex.is_name(low):
            return True
    return False


def _scan(text: str, start: int, lex: Lexicon, corner: bool, cued: bool) -> Span | None:
    pos = start
    tokens: list[str] = []
    ends: list[int] = []
    while len(tokens) < 30:
        m = TOKEN.match(text, pos)
        if m is None:
            break
        tok = m.group("tok")
        if not _accept(tok, lex, corner) and not _street_name_part(text, m, lex):
            break
        if tok[0] == "(" and (not tokens or "\n" in m.group()):
            break  # "(Greek)" after a place name belongs to it; never opens an address or a line
        pos = m.end()
        if text.startswith(":", pos):
            break  # a field label ("E-mail:", "Phone:") or a time ("10:30") starts something else
        tokens.append(tok)
        ends.append(pos)
    while tokens and tokens[-1].lower() == "and":
        tokens.pop()
        ends.pop()
    # "Magasinsgatan 7 St", "Whitchurch Road street": a street word after the address is complete
    # (after its house number, or after another street word) is the sentence's, not the address's.
    if len(tokens) >= 3 and tokens[-1].lower() in STREET_WORDS and not (corner and _second_street(tokens)):
        earlier = [t.lower() for t in tokens[:-1]]
        if any(t in STREET_WORDS for t in earlier) or (
            tokens[-2][0].isdigit() and any(t[0].isalpha() for t in earlier)
        ):
            tokens.pop()
            ends.pop()
    if len(tokens) < 2:
        return None  # one token is no address (`_looks_like_address`, `_two_streets`): most number starts end here
    if tokens[-1].lower().rstrip(".") in _LEGAL_FORMS:
        return None  # "48 Factoring Inc" is a company
    # A contact block ("Name\nJob title\nCompany\n338 17 St Omers Road"): lines without a number
    # before the first line that has one are a title or a company, not part of the address, unless
    # they name a street.
    start = _first_address_line(text, start, ends, tokens, lex)
    end = ends[-1]
    # The country tail opens with a comma or a line break after spaces; the scan mostly stops at a
    # lower-case word or a full stop, so the long pattern of country names is tried only after one.
    after = end
    while text.startswith((" ", "\t"), after):
        after += 1
    if text.startswith((",", "\n"), after):
        tail = _country_tail(lex).match(text, end)
        if tail is not None and (tail.group("country")[0].isupper() or text.islower()):
            end = tail.end()
    if _looks_like_address(tokens, text[start:end], lex, cued) or (corner and _two_streets(tokens, lex)):
        return Span(start, end, "STREET_ADDRESS")
    return None


def _second_street(tokens: list[str]) -> bool:
    """At a corner the street word closing the tokens names the second street ("... and Oak Avenue")."""
    joins = [k for k, t in enumerate(tokens) if t.lower() in ("and", "&")]
    return bool(joins) and not any(t.lower() in STREET_WORDS for t in tokens[joins[-1] + 1 : -1])


_NO_NUMBER = frozenset({"S/N", "s/n", "S/n"})


def _two_streets(tokens: list[str], lex: Lexicon) -> bool:
    """After "the corner of": two street names joined by "and" or "&" need no house number
    ("the corner of Elm Street and Oak Avenue", "the intersection of Main & 5th")."""
    joins = [k for k, t in enumerate(tokens) if t.lower() in ("and", "&")]
    if not joins or not 0 < joins[0] < len(tokens) - 1:
        return False
    return all(t[0].isupper() or t[0].isdigit() or t.lower() in ("and", "&") for t in tokens) and any(
        _is_street_word(t.lower(), lex) or t[0].isdigit() for t in tokens
    )


def _country_tail(lex: Lexicon) -> re.Pattern[str]:
    """A country closing an address after a comma or line break, with up to three place words
    before it and an optional "(Greek)" and postcode after it: ", belfast, south africa",
    "\n Cyprus (Greek) 26933"."""
    cached = _COUNTRY_CACHE.get(id(lex))
    if cached is None:
        names = "|".join(re.escape(c) for c in sorted(lex.countries, key=len, reverse=True))
        sep = r"[ \t]*(?:,[ \t]*\n?|\n)[ \t]*,?[ \t]*"
        cached = re.compile(
            rf"(?:{sep}[^\W\d_][\w'’.-]*(?: [^\W\d_][\w'’.-]*)?){{0,2}}{sep}(?P<country>(?i:{names}))\b"
            r"(?:[ \t]*\([^\W\d_]+(?: [^\W\d_]+)?\))?(?:[ \t]*,?[ \t]*[A-Z0-9]{2,4}[ -]?[A-Z0-9]{2,5}\b)?"
        )
        _COUNTRY_CACHE[id(lex)] = cached
    return cached


_COUNTRY_CACHE: dict[int, re.Pattern[str]] = {}
_LEGAL_FORMS = frozenset({"inc", "llc", "ltd", "corp", "co", "plc", "gmbh", "lp", "llp", "pllc", "pty"})


# Words that open an address line without a house number (military and PO addresses).
_OPENERS = frozenset({"PSC", "PO", "P.O.", "FPO", "APO", "DPO", "USNS", "USS", "USNV", "USCGC"})
# A sign-off on the line after an address is the message's, not the address's.
_SIGN_OFFS = frozenset({"thanks", "thank", "regards", "cheers", "best", "sincerely", "love", "kind", "warm", "bye"})


def _first_address_line(text: str, start: int, ends: list[int], tokens: list[str], lex: Lexicon) -> int:
    first_digit = next((k for k, t in enumerate(tokens) if t[0].isdigit() or t.upper() in _OPENERS), None)
    if first_digit is None or first_digit == 0:
        return start
    tok_start = ends[first_digit] - len(tokens[first_digit])
    head = text[start:tok_start]
    cut = head.rfind("\n")
    if cut == -1:
        return start
    line_start = start + cut + 1
    if not text[line_start:tok_start].strip():
        # The number opens its line: the street may be the line above ("Via Roma\n12"), but only
        # when that line names one.
        above = text[start:line_start].rstrip("\n").rsplit("\n", 1)
        above_start = line_start - 1 - len(above[-1])
        if any(_is_street_word(w.lower(), lex) for w in above[-1].split()):
            line_start = max(start, above_start)
    while line_start < tok_start and text[line_start] in " \t":
        line_start += 1
    return line_start


def contact_block_orgs(text: str, addresses: list[Span]) -> Iterator[Span]:
    """In a contact block (a name line, a job-title line, then a company line right above the
    address), the line right above the address is the company."""
    for span in addresses:
        line_start = text.rfind("\n", 0, span.start) + 1
        if text[line_start : span.start].strip() or line_start == 0:
            continue
        lines_before = text[: line_start - 1].split("\n")
        if len(lines_before) < 3 or not all(x.strip() for x in lines_before[-3:]):
            continue
        company = lines_before[-1]
        words = company.split()
        if not 1 <= len(words) <= 6 or any(c.isdigit() or c in "@:.!?" for c in company.rstrip(".")):
            continue
        begin = line_start - 1 - len(company)
        lead = len(company) - len(company.lstrip())
        yield Span(begin + lead, begin + len(company.rstrip()), "ORGANIZATION")


def find_addresses(text: str, lex: Lexicon) -> Iterator[Span]:
    # The two case-insensitive cue patterns are scanned only when one of their words is present
    # (casefold, so every letter IGNORECASE would match is found). Two streets at a corner and a
    # house written "S/N" (sem / sin número) need no digit.
    digit = _DIGIT.search(text) is not None
    folded = text.casefold()
    corner = any(k in folded for k in _CORNER_KEYS)
    if not digit and not corner and "s/n" not in folded:
        return
    if corner:
        for m in START_CORNER.finditer(text):
            span = _scan(text, m.end(), lex, corner=True, cued=True)
            if span is not None:
                yield Span(m.start(), span.end, "STREET_ADDRESS")
    if digit and any(k in folded for k in _CUE_KEYS):
        for m in START_CUE.finditer(text):
            span = _scan(text, m.end(), lex, corner=False, cued=True)
            if span is not None:
                yield span
    # Later starts inside an address already found would only find (part of) it again.
    # Found spans by start (they may overlap): one covering `start` began at most `longest` before it.
    found_starts: list[int] = []
    found_ends: list[int] = []
    longest = 0

    def inside_found(start: int) -> bool:
        lo, hi = bisect_right(found_starts, start - longest), bisect_right(found_starts, start)
        return any(found_ends[j] > start for j in range(lo, hi))

    starts = [m.start() for m in START_MILITARY.finditer(text)] if _MILITARY_GATE.search(text) else []
    starts += [m.start() for rx in (START_STREET_TYPE, START_NUMBER) for m in rx.finditer(text)]
    # The name-first starts are read lazily, after the other starts' addresses are found: most lie
    # inside one (the street name before "No. 566"), and they are not looked at further.
    for start in chain(starts, _name_first_starts(text, lex, inside_found)):
        if inside_found(start):
            continue
        span = _scan(text, start, lex, corner=False, cued=False)
        if span is not None:
            span = _with_cross_street(text, span)
            i = bisect_right(found_starts, span.start)
            found_starts.insert(i, span.start)
            found_ends.insert(i, span.end)
            longest = max(longest, span.end - span.start)
            yield span


_DIGIT = re.compile(r"\d")
# "at Růžena and Király u. 15", "Đoko and ul. Miła 53": a cross street named before the address.
_CROSS_STREET = regex.compile(r"((?:\p{Lu}[\p{L}\p{M}'’.-]* ){1,3})(?:and|&) $")


def _with_cross_street(text: str, span: Span) -> Span:
    """An address preceded by "X and " is an intersection when X (one to three capitalised words)
    opens its line or follows "at", "on" or "of"."""
    # (the pattern ends in "and " or "& " right before the address: a suffix test first)
    if span.start < 6 or not text.endswith(("and ", "& "), 0, span.start):
        return span
    w0 = max(0, span.start - 60)
    m = _CROSS_STREET.search(text, w0, span.start)
    if m is None:
        return span
    begin = m.start(1)
    if begin == 0 or text[begin - 1] == "\n" or text[max(0, begin - 3) : begin] in ("at ", "on ", "of "):
        return Span(begin, span.end, span.entity_type, span.score)
    return span


_WORD_OR_NUMBER = re.compile(r"\d{1,6}[A-Za-z]?\b|[^\W\d_]+(?:['’\-][^\W\d_]+)*\.?")


_WINDOW = 120
_UP_TO_LAST_DIGIT = re.compile(r".*\d", re.DOTALL)


def _name_first_starts(text: str, lex: Lexicon, skip: Callable[[int], bool] | None = None) -> Iterator[int]:
    """Addresses written name first ("Černá 39", "Calle Mayor 5", "Jalan Raya Setiabudhi No. 566"):
    a street prefix, a street-like word or an unknown proper noun, followed within four words by a
    house number. A start for which `skip` (asked as the starts are read) is true is left out."""
    first_digit = _DIGIT.search(text)
    if first_digit is None:
        return
    # Only the four tokens before a number matter, so tokenising starts after a space some way
    # before the first digit (no token holds a space, so the tokens from there are the same);
    # all of the text when fewer than four tokens stand before the first number from there.
    # Likewise it stops at the first space after the last digit: no number follows, and a token
    # ends at a space as it would at the end of the text.
    begin = text.rfind(" ", 0, first_digit.start() - _WINDOW) + 1 if first_digit.start() > _WINDOW else 0
    last_digit = _UP_TO_LAST_DIGIT.match(text)
    assert last_digit is not None  # the text holds a digit (first_digit)
    stop = text.find(" ", last_digit.end())
    stop = len(text) if stop == -1 else stop
    tokens = [(m.start(), m.group()) for m in _WORD_OR_NUMBER.finditer(text, begin, stop)]
    numbers = [j for j, (_, tok) in enumerate(tokens) if tok[0].isdigit()]
    if begin and (not numbers or numbers[0] < 4):
        tokens = [(m.start(), m.group()) for m in _WORD_OR_NUMBER.finditer(text, 0, stop)]
        numbers = [j for j, (_, tok) in enumerate(tokens) if tok[0].isdigit()]
    # Street types written in lower case open a name too ("plac Żwirki i Wigury 425", "aleja Broniewskiego").
    candidates = sorted(
        {
            i
            for j in numbers
            for i in range(max(0, j - 4), j)
            if tokens[i][1][0].isupper() or tokens[i][1].lower() in lex.street_prefixes
        }
    )
    for i in candidates:
        start, tok = tokens[i]
        if skip is not None and skip(start):
            continue
        low = tok.lower()
        is_prefix = low in lex.street_prefixes or low.rstrip(".") in lex.street_prefixes
        streety = is_prefix or _is_street_word(low, lex)
        for j in range(i + 1, min(i + 5, len(tokens))):
            nxt = tokens[j][1]
            if nxt[0].isdigit():
                unknown = lex.frequency(low) < COMMON_ZIPF and not lex.is_name(low)
                if streety or unknown:
                    yield start
                break
            nlow = nxt.lower()
            rare = lex.frequency(nlow) < RARE_WORD_ZIPF
            if not (
                nxt[0].isupper()
                or nlow in LOWER_OK
                or nlow in UNIT_WORDS
                or rare
                or _is_street_word(nlow, lex)
                # "Dózsa györgy út 93": a lower-case given name before a street word
                or (
                    nxt.islower()
                    and j + 1 < len(tokens)
                    and lex.is_name(nlow)
                    and _is_street_word(tokens[j + 1][1].lower(), lex)
                )
            ):
                break
            streety = streety or _is_street_word(nlow, lex)
