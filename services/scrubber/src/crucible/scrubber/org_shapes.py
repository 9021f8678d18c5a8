"""Company names the capital-word scanner cannot see, after a workplace cue.

`names.py` reads a name as a run of words that start with a capital. Some company names do not:
they join capitals with "&" ("AT&T", "H&M"), open with a number and a hyphen ("7-Eleven") or with
a surname particle ("de Beers", "van Leeuwen Logistics"). After an employment, study, care or
membership cue (`orgs.cue_before`: "a promotion at", "my shift at", "an interview with") such a
word opens an organisation, with the capitalised words that follow it. Without a cue these shapes
are left alone ("a dress from H&M"). Not taken: a lower-case first letter ("eBay", "iPhone": after
a shopping cue it names a product or a shop far more often than an employer) and a number glued
to a capital ("3M" reads like "5PM", "10K").
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import regex

from crucible.scrubber.orgs import PERSON_PREPS, cue_before
from crucible.scrubber.spans import Span

# The first word of the name: a shape a capitalised run never starts with.
_ODD_FIRST = (
    r"\p{Lu}[\p{L}]*(?:&\p{Lu}[\p{L}]*)+"  # AT&T, H&M, P&G
    r"|\d{1,3}-\p{Lu}[\p{L}]+"  # 7-Eleven
    r"|(?:de|van|von|da|du|le|la|ten|ter)(?: (?:der|den|de|la|le|du))? \p{Lu}[\p{L}\p{M}'’-]+"  # van der Sloot
)
# Words that may follow it inside the name: capitalised words ("&"-joined too: "van der Sloot &
# Huijben") and the same odd shapes.
_NEXT = r"(?: (?:& )?\p{Lu}[\p{L}\p{M}'’&-]*)*"
_SHAPED = regex.compile(
    rf"(?<=\b(?:at|for|with|by|from|to|of|into|through|quit|joined|left) (?:the )?)(?:{_ODD_FIRST}){_NEXT}"
    rf"(?![\p{{L}}\p{{M}}\d&])"
)
# In a message typed without capitals only the "&" shape still shows a name ("at&t", "h&m").
_LOWER_SHAPED = regex.compile(
    r"(?<=\b(?:at|for|with|by|from|to|of) (?:the )?)\p{Ll}{1,3}&\p{Ll}{1,3}(?![\p{L}\p{M}\d&])"
)
# Substring tests (C, memchr-fast) for what these shapes need are far cheaper than any pattern;
# a hyphen is in most texts (dates, phone numbers), so a digit before it is checked only then.
_PARTICLE_GAPS = (" de ", " van ", " von ", " da ", " du ", " le ", " la ", " ten ", " ter ")
_NUMBER_HYPHEN = re.compile(r"\d-[A-Z]")


def _may_hold_a_shape(text: str) -> bool:
    if "&" in text:
        return True
    for gap in _PARTICLE_GAPS:
        if gap in text:
            return True
    return "-" in text and _NUMBER_HYPHEN.search(text) is not None


def find_shaped_orgs(text: str) -> Iterator[Span]:
    """ORGANIZATION spans for "AT&T", "7-Eleven", "de Beers" after a workplace cue."""
    if not _may_hold_a_shape(text):
        return
    pattern = _LOWER_SHAPED if text.islower() else _SHAPED
    for m in pattern.finditer(text):
        cue = cue_before(text, m.start())
        if cue is None:
            continue
        # "an interview with van Dijk" is a person; "a job with van Leeuwen Logistics" a firm
        if cue in PERSON_PREPS and m.group()[:1].islower() and m.group().count(" ") < 2:
            continue
        yield Span(m.start(), m.end(), "ORGANIZATION")
