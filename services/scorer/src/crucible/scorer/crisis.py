"""A short list of unambiguous crisis phrases, read on the person's turns next to the classifier.

Defence in depth: the classifier is measured and tuned for recall, but a missed "I'm going to kill
myself" costs far more than a needless review, so these phrases hold a record for review even when the
classifier scores them low. The bench reports the classifier alone and with this backstop.
"""

from __future__ import annotations

import re

_PATTERNS: dict[str, tuple[str, ...]] = {
    "self_harm_high": (
        r"\b(?:going to|gonna|want to|will|plan(?:ning)? to|about to) (?:kill|hang|shoot) myself\b",
        r"\bkill(?:ing)? myself\b",
        r"\b(?:end|take) my (?:own )?life\b",
        r"\bsuicide note\b",
        r"\b(?:took|swallowed|taken) (?:a (?:whole )?bottle of|all (?:my|the)|the) (?:pills|tablets|medication)\b",
        r"\bgoing to (?:jump|overdose)\b",
        r"\b(?:thoughts? (?:of|about)|thinking (?:of|about)) ending (?:it|it all|things|my life)\b",
        r"\bend(?:ing)? it all\b",
    ),
    "self_harm_low": (
        r"\bsuicid\w*\b",
        r"\b(?:hurt|hurting|harm|harming|cut|cutting|burn(?:ed|ing)?) myself\b",
        r"\bself[- ]harm\w*\b",
        r"\bbetter off without me\b",
        r"\bdon'?t want to (?:be alive|live|wake up)\b",
    ),
    "unsafe_environment": (
        r"\b(?:hits?|hitting|beats?|beating|punch(?:ed|es)?|kick(?:ed|s)?) me\b",
        r"\b(?:chok(?:ed|es|ing)|strangl\w+|slapp?(?:ed|s)?) me\b",
        r"\bthreaten(?:ed|s)? to (?:kill|hurt) me\b",
        # The scorer reads scrubbed text: a partner's name is "[Partner]" there ("[partner]" lowered), and
        # "afraid of [Partner]'s reaction" is about a reaction, not the person.
        r"\b(?:afraid|scared|terrified) (?:of (?:him|her|them)|to go home)\b",
        r"\b(?:afraid|scared|terrified) of \[(?:partner|person)\](?!')",
        r"\b(?:afraid|scared|terrified) of my (?:partner|husband|wife|boyfriend|girlfriend)\b",
        r"\bdon'?t feel safe at home\b",
        r"\bforced me\b",
    ),
}
_COMPILED = {label: re.compile("|".join(f"(?:{p})" for p in pats)) for label, pats in _PATTERNS.items()}


def crisis_labels(text: str) -> set[str]:
    lowered = text.lower().replace("\u2019", "'")
    return {label for label, rx in _COMPILED.items() if rx.search(lowered)}
