"""Structured identifiers: emails, phones, cards, IBANs, SSNs, IPs, URLs, handles, ids, licences.

One compiled regex per kind, scanned once per text; checksums and validity come from
Presidio's own recognizers (Luhn for cards, mod-97 for IBANs, SSN invalid ranges), so the
rules match the library's. Presidio's AnalyzerEngine runs every recognizer with its own
per-call overhead; scanning a handful of regexes ourselves is what makes the scrubber fast
(the bench measures it against the default AnalyzerEngine in the same run).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from functools import lru_cache

from crucible.scrubber.spans import Span

EMAIL = re.compile(r"(?<![\w.+-])[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,24}\b")
URL = re.compile(
    r"\b(?:https?://|www\.)[^\s<>\"'()\[\]]+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|io|me|co|app|dev|info|biz|us|uk|de|fr|au|ca|se|nl|es|it)(?:\.[a-z]{2})?/[^\s<>\"'()\[\]]*",
    re.IGNORECASE,
)
SOCIAL_URL = re.compile(
    r"(?:facebook|fb|instagram|twitter|x|linkedin|tiktok|snapchat|github|reddit|youtube|threads|pinterest)\.com/",
    re.IGNORECASE,
)
HANDLE = re.compile(r"(?<![\w@.])@[A-Za-z_][\w.]{1,29}\b")
# IBAN shape in any case: texts get lower-cased whole ("iban: de89 3704 ..."); validity is checked
# on the upper-cased value.
IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]{4}){2,7}(?:[ -]?[A-Za-z0-9]{1,3})?\b")
# The card, SSN and phone patterns open with the character their match starts with and test what
# may not stand before it right after it ("\d(?<![\d+-]\d)", not "(?<![\d+-])\d"): `re` skips to
# the candidates in C only when a pattern opens with a character class; one that opens with a
# lookbehind is tried at every position of the text (measured: 2-3.5x faster scans, same matches).
# Card layouts: one run of 12-19 digits, groups of four (last group 1-4), or Amex 4-6-5.
# Other groupings are phone numbers ("001-532-911-7707").
CARD = re.compile(
    r"\d(?<![\d+-]\d)(?:\d{11,18}|\d{3}([ -])\d{4}\1\d{4}(?:\1\d{1,4}){0,2}|\d{3}([ -])\d{6}\2\d{4,5})(?![\d-])"
)
# Two patterns: the grouped form has no letters, and IGNORECASE on it (needed only for the cued
# form's lookbehinds) made it the slowest pattern in the module.
SSN = re.compile(r"\d(?<![\d-]\d)\d{2}([- .])\d{2}\1\d{4}(?![\d-])")
SSN_CUED = re.compile(r"(?:(?<=ssn: )|(?<=ssn# )|(?<=ssn is ))\d{9}\b", re.IGNORECASE)
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
# Candidate phone numbers: a prefix (+CC, (area) or digits) and up to six more digit groups joined by
# one separator; validated in code (digit count, not a date, bare digit runs only with a cue).
# Not inside a longer number or word; an abbreviation's dot may touch it ("Tel.0490 75 40 81").
# A label may follow after a hyphen ("07700 063 966-Fax"), a digit may not (a longer number).
# (opening character first, see CARD: "+" / "(" / a digit, then the lookbehinds one character wider)
# Bounded backtracking: a match never ends before a digit (the closing lookahead), so how a run of
# digits is cut into groups only uses up groups; the greedy cut uses fewest, and whatever a longer
# cut can reach it reaches too. The digit counts are therefore possessive ("{1,8}+": never given
# back). Of the separators at most one can be followed by a digit (none holds a digit), so the
# first that is ends the choice (an atomic group). Written plainly the pattern tried every cut of
# every run: 280 ms on the 30 characters "01621-597344615307/4262/-27810", now 0.02 ms; the
# matches are the same (tests/unit/scrubber/test_scrubber_pattern_openers.py).
PHONE = re.compile(
    r"[+(\d](?:(?<![\w+/.-].)|(?<=[A-Za-z]\..))(?:(?<=\+)\s?\(?\d{1,4}+\)?|(?<=\()\+?\d{1,5}+\)|(?<=\d)\d{0,5}+)"
    r"(?:(?>(?:[ ./-]|\)[ ]?|[ ]?\(|\)?[ ./-]\(?|[ ]?/[ ]?)(?=\d))?\d{1,8}+\)?){0,10}"
    r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?(?![\w/]|-\d)",
    re.IGNORECASE,
)
PHONE_CUE = re.compile(
    r"(?:phone|call|tel|mobile|cell|reach|text|whatsapp|number|fax|dial|ring|contact|message|sms|voicemail|landline|"
    r"hotline|answer|registered)\w*\W{0,3}(?:\w+\W{1,3}){0,3}$",
    re.I,
)
# "5335907579 is my cell", "0612345678 (mobile)": the cue after the number.
PHONE_CUE_AFTER = re.compile(
    r"\W{0,3}(?:is |was |as )?(?:my |our |his |her |their |the )?(?:new |work |home |private |personal )?"
    r"(?:phone|cell|mobile|number|landline|tel|fax|whatsapp)",
    re.I,
)
DATE_LIKE = re.compile(r"^\d{4}([-./])\d{1,2}\1\d{1,2}(?![\d./-])|^\d{1,2}([-./])\d{1,2}\2\d{2,4}(?![\d./-])")
# "2019-2020", "1990 - 1995": a span of years, not a phone (unless a cue says phone).
YEAR_RANGE = re.compile(r"(?:19|20)\d\d ?[-/] ?(?:19|20)\d\d")
# A date inside a phone candidate ("+41 76 647 37 82 1993-07-15": one separator joins them) splits it.
DATE_INSIDE = re.compile(
    r"(?<![\d./-])(?:\d{4}([-./])\d{1,2}\1\d{1,2}|\d{1,2}([-./])\d{1,2}\2(?:\d{4}|\d{2}))(?![\d./-])"
)
# The pieces of a phone candidate: a digit group with its "+", brackets and extension.
PHONE_PIECE = re.compile(r"(?:\+\s?)?\(?\+?\d+\)?(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5}(?!\d))?", re.IGNORECASE)
_PHONE_EDGE_START = re.compile(r"[^\d+(]*")
_PHONE_EDGE_END = re.compile(r"[^\d)]*$")
EXTENSION = re.compile(r"[ ]?(?:x|ext\.?)[ ]?\d{1,5}$", re.IGNORECASE)
ACCOUNT_ID = re.compile(
    r"(?:\b(?:user|account|member|customer|client|profile|acct|login)[ _-]?(?:id|number|no\.?|#|name)"
    r"\s*(?:is|:|=|#)?\s*)"
    r"([A-Za-z0-9][\w-]{3,63})"
    r"|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
    r"|\b(?:usr|user|uid|acct|cus|cust)_[A-Za-z0-9]{4,}\b",
    re.IGNORECASE,
)
# National ids other than the US SSN (PESEL, NINO, ...) named as such: "my SSN is 06221286010".
NATIONAL_ID = re.compile(
    r"(?:\bssn|social security(?: number)?|social insurance(?: number)?|national (?:id|insurance)(?: number)?|"
    r"\bpesel|personal id(?: number)?|\bid number|passport(?: number)?|\bnino|tax id|\btin)"
    r"\s*(?:no\.?|#)?\s*(?:is|:)?\s*"
    r"([A-Z]{0,2}\d[\d -]{4,14}\d[A-Z]?)\b",
    re.IGNORECASE,
)
LICENSE = re.compile(
    r"(?:driver'?s?[’']?s? licen[cs]e|driving licen[cs]e|\bDL|licen[cs]e)\s*(?:number|no\.?|#)?\s*(?:is|:)?\s*"
    r"([A-Z0-9][A-Z0-9-]{4,19})\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def _validators() -> tuple:
    """Presidio's own validity rules; built once (recognizer construction compiles regexes)."""
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer, IbanRecognizer, UsSsnRecognizer

    return CreditCardRecognizer(), IbanRecognizer(), UsSsnRecognizer()


_DIGIT = re.compile(r"\d")
# Every IBAN opens with two letters and two digits; found from the digits (`re` skips to them in C).
_IBAN_GATE = re.compile(r"\d(?<=[A-Za-z]{2}\d)\d")
_FOUR_DIGITS = re.compile(r"\d{4}")
# Substrings without which ACCOUNT_ID / NATIONAL_ID cannot match (UUIDs need four "-"); one
# alternation each, searched in C (a pattern of plain words skips to their first letters).
_ACCOUNT_KEYS = re.compile("user|account|member|customer|client|profile|acct|login|uid|usr|cus")
# The national-id keys are NATIONAL_ID's own phrases: "social", "national", "tax" and a bare "tin"
# ("meeting", "waiting") let one text in twelve through to the case-insensitive scan, which tries
# every position (measured: 3 us a text on presidio-synth, now a tenth of that). "tin" counts only
# as a word's start, tested after its "t" so the pattern still opens with plain letters.
_NATIONAL_KEYS = re.compile(
    "ssn|social security|social insurance|national id|national insurance|pesel|personal id|id number|passport"
    r"|nino|tax id|t(?<!\w.)in"
)


def _digit_count(s: str) -> int:
    return sum(map(str.isdigit, s))  # counted in C, not a generator per character


def _has_digit(s: str) -> bool:
    return any(c.isdigit() for c in s)


def _iban_checksum(value: str) -> bool:
    """ISO 13616 mod-97 check digits, for IBAN-shaped strings whose country or length Presidio's
    per-country table rejects (valid check digits on a 12-34 character code are no accident; 12-14
    covers made-up IBANs of countries outside the registry, such as Faker's 14-character "TH")."""
    compact = value.replace(" ", "").replace("-", "").upper()
    if not 12 <= len(compact) <= 34 or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _phone_cued(text: str, start: int, end: int) -> bool:
    return (
        PHONE_CUE.search(text, max(0, start - 40), start) is not None
        or PHONE_CUE_AFTER.match(text, end, end + 40) is not None
    )


def _phones_in(text: str, start: int, end: int, depth: int = 0) -> Iterator[tuple[int, int]]:
    """The phone numbers in one PHONE candidate. Digit groups joined by single separators run on
    into whatever numbers stand next to the phone ("1991-09-09 001-833-691-1878", "47 389-483-9958",
    "(585)367-2207 2012-01-21"); when the whole run is not a phone, dates split it and the longest
    run of its pieces that is a phone is taken, then the rest is searched again."""
    lead = _PHONE_EDGE_START.match(text, start, end)
    assert lead is not None  # both edge patterns match everywhere, if only the empty string
    start = lead.end()
    trail = _PHONE_EDGE_END.search(text[start:end])
    assert trail is not None
    end -= len(trail.group())
    if text[end - 1 : end] == ")" and text.count("(", start, end) < text.count(")", start, end):
        end -= 1  # the bracket closes something around the number
    if end - start < 6 or depth > 4:
        return
    if _is_phone(text, start, end):
        yield start, end
        return
    value = text[start:end]
    dates = [d for d in DATE_INSIDE.finditer(value) if _plausible_date(d.group())]
    if dates:
        pos = 0
        for d in dates:
            yield from _phones_in(text, start + pos, start + d.start(), depth + 1)
            pos = d.end()
        yield from _phones_in(text, start + pos, end, depth + 1)
        return
    pieces = [
        (start + p.start(), start + p.end(), _digit_count(EXTENSION.sub("", p.group())))
        for p in PHONE_PIECE.finditer(value)
    ]
    if len(pieces) < 2:
        return
    # Two numbers side by side are usually joined by a space ("555-123-4567 555-987-6543"): runs
    # that start and end at a space are tried first; then runs that leave no bracket open; then runs
    # that open with "+" or a bracket ("+39 336255594" before "336255594 63603"), longest first.
    spaced = [k == 0 or " " in text[pieces[k - 1][1] : pieces[k][0]] for k in range(len(pieces))] + [True]
    opens = ["+(".find(text[p[0]]) % 3 for p in pieces]  # "+" 0, "(" 1, a digit 2
    ranges = sorted(
        ((i, j) for i in range(len(pieces)) for j in range(i, len(pieces)) if (i, j) != (0, len(pieces) - 1)),
        key=lambda r: (
            not (spaced[r[0]] and spaced[r[1] + 1]),
            text.count("(", pieces[r[0]][0], pieces[r[1]][1]) > text.count(")", pieces[r[0]][0], pieces[r[1]][1]),
            opens[r[0]],
            -sum(p[2] for p in pieces[r[0] : r[1] + 1]),
            r[0],
        ),
    )
    for i, j in ranges:
        if 7 <= sum(p[2] for p in pieces[i : j + 1]) <= 15 and _is_phone(text, pieces[i][0], pieces[j][1]):
            if i > 0:
                yield from _phones_in(text, start, pieces[i - 1][1], depth + 1)
            last = pieces[j][1]
            if text[last - 1] == ")" and text.count("(", pieces[i][0], last) < text.count(")", pieces[i][0], last):
                last -= 1
            yield pieces[i][0], last
            if j < len(pieces) - 1:
                yield from _phones_in(text, pieces[j + 1][0], end, depth + 1)
            return


def _is_phone(text: str, start: int, end: int) -> bool:
    """A PHONE candidate is a phone number when its digits and layout say so, or context does.

    Grouped numbers ("0490 75 40 81", "(99) 645-791", "+41 44 668 18 00") need 7-15 digits, or six in
    three groups ("81 77 89") that do not read as a date unless a cue says phone. A bare run of
    digits is a phone at 7-13 digits (national and local numbers without separators: "4211234",
    "41601108", "0612345678", "5335907579", "18787789328") unless it is an amount, a round figure
    or an eight-digit date; longer bare runs only when called one. Anything that reads as a
    calendar date or a span of years is not a phone."""
    value = text[start:end]
    n = _digit_count(EXTENSION.sub("", value))
    if not 6 <= n <= 15:
        return False
    date = DATE_LIKE.match(value)
    if date and _plausible_date(date.group()):
        return False
    if YEAR_RANGE.fullmatch(value) and not _phone_cued(text, start, end):
        return False
    if not value.isdigit():
        if n >= 7:
            return True
        groups = [g for g in _GROUP_SPLIT.split(value) if g]
        if len(groups) < 3:
            return False
        return _phone_cued(text, start, end) or not (len(groups) == 3 and _plausible_date(" ".join(groups)))
    if 8 <= n <= 13 and not _amount(text, start, end) and not (n == 8 and _compact_date(value)):
        return True
    if n == 7 and not _amount(text, start, end) and not value.endswith("000"):
        return True  # a local number ("4211234"); round figures are counts, not phones
    return n >= 7 and _phone_cued(text, start, end)


def _plausible_date(value: str) -> bool:
    """Whether digit groups read as a calendar date: "1993-07-15", "15.07.93", "12 05 24" do,
    "12-34-5678" and "07-12-1234" do not."""
    parts = [int(g) for g in _GROUP_SPLIT.split(value) if g]
    if len(parts) != 3:
        return False
    lengths = [len(g) for g in _GROUP_SPLIT.split(value) if g]
    if lengths[0] == 4:
        year, month, day = parts
    else:
        day, month, year = parts
        if month > 12:
            day, month = month, day
        if lengths[2] == 2:
            year += 2000
    return 1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31


_GROUP_SPLIT = re.compile(r"[^\d]+")
_CURRENCY_BEFORE = frozenset("$€£¥₹₽")
AMOUNT_AFTER = re.compile(
    r"\s?(?:%|percent|dollars?|euros?|pounds?|usd|eur|gbp|yen|rupees?|views|users|people|followers|times|years?)\b",
    re.I,
)


def _compact_date(value: str) -> bool:
    """YYYYMMDD or DDMMYYYY ("20240115", "15012024"): eight digits that read as a date."""
    y, m, d = int(value[:4]), int(value[4:6]), int(value[6:])
    if 1900 <= y <= 2099 and 1 <= m <= 12 and 1 <= d <= 31:
        return True
    d, m, y = int(value[:2]), int(value[2:4]), int(value[4:])
    return 1900 <= y <= 2099 and 1 <= m <= 12 and 1 <= d <= 31


def _amount(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 2) : start].strip()
    return (before[-1:] in _CURRENCY_BEFORE) or AMOUNT_AFTER.match(text, end) is not None


def _valid_iban_end(value: str, iban_rec) -> int:
    """Length of the longest valid IBAN at the start of an IBAN-shaped match, 0 if none. The shape
    may run on into the next word ("AT61 1904 3002 3457 3201 is ..." also matches " is"), so
    trailing groups are dropped one by one until the check digits agree."""
    while len(value) >= 12:
        if iban_rec.validate_result(value.upper()) or _iban_checksum(value):
            return len(value)
        cut = max(value.rfind(" "), value.rfind("-"))
        if cut <= 4:
            return 0
        value = value[:cut]
    return 0


def find_structured(text: str) -> Iterator[Span]:
    """Every structured identifier in `text` (possibly overlapping; the caller resolves)."""
    card_rec, iban_rec, ssn_rec = _validators()
    # Cheap substring tests first: most texts carry none of these, and a C-level `in` is far
    # cheaper than running the full pattern.
    if "@" in text:
        yield from _emails(text)
    if "/" in text or "www." in text:
        yield from _urls(text)
    if "@" in text:
        for m in HANDLE.finditer(text):
            yield Span(m.start(), m.end(), "SOCIAL_HANDLE")
    if _DIGIT.search(text):
        yield from _numeric(text, card_rec, iban_rec, ssn_rec)


def _emails(text: str) -> Iterator[Span]:
    for m in EMAIL.finditer(text):
        yield Span(m.start(), m.end(), "EMAIL_ADDRESS")


def _urls(text: str) -> Iterator[Span]:
    for m in URL.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in ".,;:!?":
            end -= 1
        yield Span(m.start(), end, "URL")


def _numeric(text: str, card_rec, iban_rec, ssn_rec) -> Iterator[Span]:
    lower = text.lower()
    # Digits in the text (ASCII text only; elsewhere \d also matches other scripts' digits): a
    # phone needs six, an SSN nine, a card twelve.
    digits = sum(map(text.count, "0123456789")) if text.isascii() else 99
    for m in IBAN.finditer(text) if _IBAN_GATE.search(text) else ():
        end = _valid_iban_end(m.group(), iban_rec)
        if end:
            yield Span(m.start(), m.start() + end, "IBAN_CODE")
    # Each pattern below is scanned only when what it cannot match without is in the text: every
    # card and SSN layout holds four digits in a row, an IPv4 address three dots, an IPv6 two colons.
    if digits >= 9 and _FOUR_DIGITS.search(text):
        for m in CARD.finditer(text) if digits >= 12 else ():
            if card_rec.validate_result(m.group()):
                yield Span(m.start(), m.end(), "CREDIT_CARD")
        ssns = [m for m in SSN.finditer(text) if not ssn_rec.invalidate_result(m.group())]
        if "ssn" in lower:
            ssns = sorted(
                ssns + [m for m in SSN_CUED.finditer(text) if not ssn_rec.invalidate_result(m.group())],
                key=lambda m: m.start(),
            )
        for m in ssns:
            yield Span(m.start(), m.end(), "US_SSN")
    if digits >= 4 and text.count(".") >= 3:
        for m in IPV4.finditer(text):
            if all(int(p) <= 255 for p in m.group().split(".")):
                yield Span(m.start(), m.end(), "IP_ADDRESS")
    if text.count(":") >= 2:
        for m in IPV6.finditer(text):
            try:
                ipaddress.IPv6Address(m.group())
            except ValueError:
                continue
            yield Span(m.start(), m.end(), "IP_ADDRESS")
    for m in PHONE.finditer(text) if digits >= 6 else ():
        if m.end() - m.start() < 6:
            continue  # most candidates are short numbers ("12", "2019"); `_phones_in` only trims them shorter
        for start, end in _phones_in(text, m.start(), m.end()):
            yield Span(start, end, "PHONE_NUMBER")
    if _ACCOUNT_KEYS.search(lower) or lower.count("-") >= 4:
        for m in ACCOUNT_ID.finditer(text):
            if m.group(1) is not None:
                if _has_digit(m.group(1)):
                    yield Span(m.start(1), m.end(1), "ACCOUNT_ID")
            else:
                yield Span(m.start(), m.end(), "ACCOUNT_ID")
    if _NATIONAL_KEYS.search(lower):
        for m in NATIONAL_ID.finditer(text):
            yield Span(m.start(1), m.end(1), "NATIONAL_ID")
    if "licen" not in lower and "dl" not in lower:
        return
    for m in LICENSE.finditer(text):
        if _has_digit(m.group(1)):
            yield Span(m.start(1), m.end(1), "US_DRIVER_LICENSE")
