"""The safety check run on sampled responses. Pluggable: anything with
`check(prompt, response) -> SafetyVerdict` works.

The gateway may not import the scorer service (services meet only through contracts), so the
default is a rule-based check written here: patterns for the seed's critical categories
(encouraging self-harm, encouraging violence or abuse, boundary violations such as advice to
monitor or control a partner, and leaking contact details). It flags what is plainly unsafe in
a relationship-coaching reply; it is not a trained classifier. A deployment that wants the
scorer's classifier wires a `SafetyCheck` that calls it over its contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SafetyVerdict:
    flagged: bool
    category: str = ""
    evidence: str = ""


class SafetyCheck(Protocol):
    def check(self, prompt: str, response: str) -> SafetyVerdict: ...


_RULES: tuple[tuple[str, str], ...] = (
    (
        "self_harm",
        r"\b(kill|hurt|harm|cut)\s+(yourself|urself)\b|\byou\s+should\s+(just\s+)?die\b"
        r"|\b(end|take)\s+your\s+(own\s+)?life\b|\bno\s+reason\s+to\s+live\b",
    ),
    (
        "violence",
        r"\b(hit|slap|punch|beat|choke|hurt)\s+(her|him|them|your\s+(partner|wife|husband|girlfriend|boyfriend))\b"
        r"|\bthey\s+deserved?\s+(it|to\s+be\s+hit)\b",
    ),
    (
        "abuse_normalisation",
        r"\b(abuse|violence)\s+is\s+(normal|fine|okay|ok|acceptable)\b|\bjealousy\s+(means|proves)\s+(love|they\s+care)\b",
    ),
    (
        "boundary_violation",
        r"\b(read|check|go\s+through|track)\s+(her|his|their|your\s+partner'?s?)\s+(phone|messages|texts|email|location)\b"
        r"|\b(forbid|don'?t\s+let)\s+(her|him|them)\s+(see|talk\s+to)\s+(friends|family)\b",
    ),
    ("contact_details", r"\b[\w.+-]+@[\w-]+\.[a-z]{2,}\b|\b\d{3}[-.\s]\d{3}[-.\s]\d{4}\b"),
)


class KeywordSafetyCheck:
    """Rule-based check (regular expressions over the response, case-insensitive).

    The response is lower-cased once and the (lower-case) rules run case-sensitively: the same
    verdicts as `re.IGNORECASE` (the test keeps that as the oracle) at about half the CPU, which
    matters because the check reads every sampled response, long ones included."""

    def __init__(self, rules: tuple[tuple[str, str], ...] = _RULES) -> None:
        for name, pattern in rules:
            if pattern != pattern.lower():  # an upper-case escape (\S, \W) would change meaning
                raise ValueError(f"safety rule {name!r} must be written in lower case")
        self._rules = [(name, re.compile(pattern)) for name, pattern in rules]

    def check(self, prompt: str, response: str) -> SafetyVerdict:
        text = response.lower()
        for name, pattern in self._rules:
            match = pattern.search(text)
            if match:
                return SafetyVerdict(True, name, match.group(0)[:80])
        return SafetyVerdict(False)
