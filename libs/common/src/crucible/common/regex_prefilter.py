"""Necessary literals of a regular expression: a cheap substring test that rules a regex out.

`required_literals(pattern)` returns a set of strings such that every match of the pattern
contains at least one of them (or None when no such set can be derived, e.g. a pattern that
may match without any fixed text). `any(s in text for s in needles)` is then a sound
prefilter: when it is false, `pattern.search(text)` cannot succeed, and Python's substring
search is far cheaper than running a large alternation at every position of the text. This is
the idea behind RE2's and codesearch's prefilters, kept deliberately simple and conservative.

How it walks the parsed pattern (`re._parser`):
- consecutive literal characters form a run; zero-width items (`\\b`, `^`, lookarounds) do not
  consume text, so a run continues across them;
- a group contributes its own requirement; an alternation contributes the union of its
  branches' requirements (every branch must have one); a repeat with a minimum of one
  contributes its body's;
- anything else (a character class, `.`, an optional part) ends the current run.
Of the sequence's candidate requirements (each alone is necessary) the most selective is kept:
the one whose weakest string has the most characters other than spaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser as parser  # type: ignore[attr-defined]
from typing import Any

import ahocorasick

Needles = frozenset[str]

_ZERO_WIDTH = {c.AT, c.ASSERT, c.ASSERT_NOT}
_REPEATS = {c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT)}


def required_literals(pattern: re.Pattern[str], min_length: int = 2) -> Needles | None:
    """Strings of which every match contains at least one, or None. Case-insensitive or
    verbose patterns are not analysed (None); shorter needles than `min_length` are not worth it."""
    if pattern.flags & (re.IGNORECASE | re.VERBOSE):
        return None
    needles = _sequence(parser.parse(pattern.pattern, pattern.flags))
    if needles is None or min(_strength(n) for n in needles) < min_length:
        return None
    return needles


def _strength(needle: str) -> int:
    # Spaces are in almost every text: " my " is as weak a filter as "my".
    return len(needle.replace(" ", ""))


def _best(candidates: list[Needles]) -> Needles | None:
    return max(candidates, key=lambda s: (min(_strength(n) for n in s), -len(s)), default=None)


def _sequence(items: Any) -> Needles | None:
    candidates: list[Needles] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            candidates.append(frozenset({"".join(run)}))
            run.clear()

    for op, arg in items:
        if op is c.LITERAL:
            run.append(chr(arg))
        elif op in _ZERO_WIDTH:
            continue  # consumes nothing: the literals on either side stay adjacent in the text
        else:
            flush()
            sub = _item(op, arg)
            if sub is not None:
                candidates.append(sub)
    flush()
    return _best(candidates)


def _item(op: Any, arg: Any) -> Needles | None:
    if op is c.SUBPATTERN:
        _group, add_flags, _del_flags, body = arg
        if add_flags & (re.IGNORECASE | re.VERBOSE):
            return None  # "(?i:...)": its literals may match in another case
        return _sequence(body)
    if op is c.ATOMIC_GROUP:
        return _sequence(arg)
    if op is c.BRANCH:
        branches = [_sequence(b) for b in arg[1]]
        if any(b is None for b in branches):
            return None
        return frozenset().union(*branches)  # type: ignore[arg-type]
    if op in _REPEATS:
        low, _high, body = arg
        return _sequence(body) if low >= 1 else None
    return None


class NeedleFinder:
    """Which of many needles occur in a text, in one pass: what `n in text` says of each needle,
    overlapping and nested ones included (Aho-Corasick, pyahocorasick). Testing each needle with
    `in` costs ~40 us per short text for a few hundred needles; this costs ~0.5 us, and the guard
    and the answer judge run on every request the gateway serves."""

    def __init__(self, needles: Iterable[str]) -> None:
        unique = set(needles)
        self._automaton: Any = None
        if unique:
            self._automaton = ahocorasick.Automaton()
            for needle in unique:
                self._automaton.add_word(needle, needle)
            self._automaton.make_automaton()

    def present(self, text: str) -> frozenset[str]:
        if self._automaton is None or not text:
            return frozenset()
        return frozenset(needle for _, needle in self._automaton.iter(text))


class RuleIndex:
    """Which of an ordered list of rules can match a text, from the needles `NeedleFinder` found
    in it: the rules one of whose needles is present, and the rules without needles (always
    searched), in the list's order. Testing every rule's needle set costs ~0.1 µs a rule; most
    texts hold none or one of the needles, so this visits only the rules that can match."""

    def __init__(self, needles_per_rule: Iterable[frozenset[str] | None]) -> None:
        by_needle: dict[str, set[int]] = {}
        always: set[int] = set()
        for i, needles in enumerate(needles_per_rule):
            if needles is None:
                always.add(i)
                continue
            for needle in needles:
                by_needle.setdefault(needle, set()).add(i)
        self._by_needle = {n: frozenset(ids) for n, ids in by_needle.items()}
        self._always = frozenset(always)
        self._always_sorted = sorted(always)
        # One needle present is the usual case when any is: its rules, ready in order.
        self._one = {n: sorted(ids | always) for n, ids in by_needle.items()}
        self.finder = NeedleFinder(self._by_needle)

    def candidates(self, present: frozenset[str]) -> list[int]:
        """Indices of the rules that can match a text holding the needles `present` (ascending);
        needles no rule of this index has are ignored."""
        if not present:
            return self._always_sorted
        if len(present) == 1:
            (needle,) = present
            return self._one.get(needle, self._always_sorted)
        empty: frozenset[int] = frozenset()
        return sorted(self._always.union(*(self._by_needle.get(n, empty) for n in present)))
