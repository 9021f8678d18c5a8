"""The last gate: after anonymisation, look again for anything that must not survive.

Checked on the scrubbed text, with more forgiving matching than detection used:
- known names (any case, accents folded);
- the user's known identifiers, compared on their digits (phones: "4 1 5 5 5 5 0 1 3 4" still
  counts) or on letters and digits only ("Blue-Heron  bistro" still counts);
- validated structured identifiers (emails, cards, IBANs, SSNs, IPs).
Findings name the kind and the turn, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from crucible.scrubber.known import NameMatcher, fold
from crucible.scrubber.structured import find_structured

_NUMERIC_RUN = re.compile(r"\+?[\d(][\d\s().+/-]{5,}\d")
STRUCTURED_GATE = frozenset({"EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS"})


def _alnum(text: str) -> str:
    return "".join(c for c in fold(text) if c.isalnum())


def residual_findings(scrubbed: str, matchers: Sequence[NameMatcher], identifiers: Sequence[str]) -> list[str]:
    found: list[str] = []
    folded = fold(scrubbed)
    for matcher in matchers:
        for span in matcher.find(scrubbed, folded):
            found.append(f"known_name:{span.entity_type}")
            break
    if identifiers:
        digit_runs = ["".join(c for c in m.group() if c.isdigit()) for m in _NUMERIC_RUN.finditer(scrubbed)]
        letters = _alnum(scrubbed)
        for ident in identifiers:
            digits = "".join(c for c in ident if c.isdigit())
            if len(digits) >= 7 and len(digits) >= 0.6 * len(_alnum(ident)):
                if any(digits in run or (len(run) >= 7 and run in digits) for run in digit_runs):
                    found.append("known_identifier:number")
                continue
            key = _alnum(ident)
            if (len(key) >= 6 and key in letters) or (
                3 <= len(key) < 6 and re.search(rf"(?<![\w]){re.escape(fold(ident.strip()))}(?![\w])", folded)
            ):
                found.append("known_identifier:text")
    for span in find_structured(scrubbed):
        if span.entity_type in STRUCTURED_GATE:
            found.append(f"structured:{span.entity_type}")
    return sorted(set(found))
