"""Detection: every PII span in a text, typed, non-overlapping, known names first.

Three tiers, resolved in this order:
1. exact detectors (validated structured identifiers, known names, known identifiers): where
   they overlap each other the longer span wins;
2. heuristic detectors (phones, addresses, person names, workplaces) are cut around tier 1
   (a known "Tomasz" inside "Tomasz Kowalski" stays [User], "Kowalski" becomes [Person]);
3. among heuristics the longer span wins (an address swallows the digits that looked like a phone).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crucible.scrubber.addresses import contact_block_orgs, find_addresses
from crucible.scrubber.known import NameMatcher, fold
from crucible.scrubber.lexicon import Lexicon, lexicon
from crucible.scrubber.lower_addresses import find_lower_addresses
from crucible.scrubber.names import find_names
from crucible.scrubber.obfuscated import find_obfuscated
from crucible.scrubber.org_shapes import find_shaped_orgs
from crucible.scrubber.spans import Span, SpanIndex, resolve_overlaps
from crucible.scrubber.structured import find_structured

if TYPE_CHECKING:
    from crucible.scrubber.token_model import SpanTagger

SOFT_TYPES = frozenset({"PHONE_NUMBER", "STREET_ADDRESS", "PERSON", "ORGANIZATION"})
# Phones stay apart: two numbers side by side are two numbers.
_MERGED_TYPES = frozenset({"PERSON", "ORGANIZATION"})
_URL_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


@dataclass
class Detector:
    """Built once per process (the lexicon takes about a second); `detect` is pure and fast."""

    lex: Lexicon
    tagger: SpanTagger | None = None  # the learned cascade (token_model.py); None: rules only

    @classmethod
    def create(cls, tagger: bool = True) -> Detector:
        lex = lexicon()
        if not tagger:
            return cls(lex=lex)
        from crucible.scrubber.token_model import SpanTagger

        return cls(lex=lex, tagger=SpanTagger.load(lex))

    def detect(self, text: str, matchers: Sequence[NameMatcher] = (), identifiers: Sequence[str] = ()) -> list[Span]:
        folded = fold(text) if matchers or identifiers else ""
        hard: list[Span] = []
        soft: list[Span] = []
        for span in find_structured(text):
            if span.entity_type == "URL" and not self._url_carries_name(text[span.start : span.end], matchers):
                continue
            (soft if span.entity_type in SOFT_TYPES else hard).append(span)
        hard.extend(find_obfuscated(text, self.lex))  # "john dot smith at gmail dot com", "insta: jk_89"
        for matcher in matchers:
            hard.extend(matcher.find(text, folded))
        if identifiers:
            hard.extend(find_identifiers(folded, identifiers))
        soft.extend(find_names(text, self.lex))
        soft.extend(find_shaped_orgs(text))
        addresses = list(find_addresses(text, self.lex))
        addresses.extend(find_lower_addresses(text, self.lex))
        soft.extend(addresses)
        if "\n" in text and addresses:
            soft.extend(contact_block_orgs(text, addresses))
        fixed = resolve_overlaps(hard)
        spans = sorted(fixed + resolve_overlaps(_settle_phones_and_addresses(_cut_around(soft, fixed, text), text)))
        # --- learned cascade (token_model.py): only runs the rules left uncovered reach the model ---
        if self.tagger is not None:
            spans = self.tagger.refine(text, spans)
        # --- end of the learned cascade ---
        return _merge_adjacent(spans, text)

    def _url_carries_name(self, url: str, matchers: Sequence[NameMatcher]) -> bool:
        from crucible.scrubber.structured import SOCIAL_URL

        if SOCIAL_URL.search(url):
            return True
        lowered = fold(url)
        for matcher in matchers:
            if any(len(n) >= 3 and fold(n) in lowered for m in [matcher] for n in m.names):
                return True
        words = _URL_WORDS.findall(url.split("//", 1)[-1])
        return any(len(w) >= 4 and w.lower() in self.lex.first_names for w in words)


def _merge_adjacent(spans: list[Span], text: str) -> list[Span]:
    """Two spans of one type with only spaces between them are one mention ("The Shepherd Ltd."
    + "Orchestra"): one placeholder, as presidio-anonymizer would write it."""
    out: list[Span] = []
    for span in spans:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.entity_type == span.entity_type
            and span.entity_type in _MERGED_TYPES
            and text[prev.end : span.start].strip(" ") == ""
        ):
            out[-1] = Span(prev.start, span.end, span.entity_type, max(prev.score, span.score))
        else:
            out.append(span)
    return out


def find_identifiers(folded: str, identifiers: Sequence[str]) -> Iterable[Span]:
    """Verbatim mentions (any case, any accents) of the user's known emails, phones, address, workplace."""
    for ident in identifiers:
        key = fold(ident.strip())
        if len(key) < 3:
            continue
        start = folded.find(key)
        while start != -1:
            end = start + len(key)
            if (start == 0 or not folded[start - 1].isalnum()) and (end == len(folded) or not folded[end].isalnum()):
                yield Span(start, end, identifier_type(ident))
            start = folded.find(key, start + 1)


def identifier_type(ident: str) -> str:
    """The extractor's identifiers are untyped strings; their shape says which placeholder fits."""
    digits = sum(c.isdigit() for c in ident)
    alnum = sum(c.isalnum() for c in ident) or 1
    if "@" in ident:
        return "EMAIL_ADDRESS"
    if digits >= 7 and digits >= 0.6 * alnum:
        return "PHONE_NUMBER"
    if digits:
        return "STREET_ADDRESS"
    return "ORGANIZATION"


def _settle_phones_and_addresses(spans: list[Span], text: str) -> list[Span]:
    """The address scanner takes numbers and capitalised words, so next to a phone number it often
    runs into it ("... Suite 498 055-352-8645", "call me at 11 6904-9460 I'd like"). A validated
    phone number keeps its digits: an address that starts inside it is dropped (its start is
    wrong), one that ends inside it is cut back to where the phone begins and kept if a number is
    left in it. Left alone the longer address would win and leave the phone's other digits."""
    phones = [s for s in spans if s.entity_type == "PHONE_NUMBER"]
    if not phones:
        return spans
    near = SpanIndex(phones)  # only the phones near an address are looked at
    out: list[Span] = []
    for span in spans:
        if span.entity_type == "STREET_ADDRESS":
            around = [p for _, p in near.overlapping(span.start, span.end)]
            if any(p.start < span.start < p.end < span.end for p in around):
                continue
            cuts = [p.start for p in around if span.start < p.start < span.end < p.end]
            if cuts:
                end = min(cuts)
                while end > span.start and not text[end - 1].isalnum():
                    end -= 1
                if not any(c.isdigit() for c in text[span.start : end]):
                    continue
                span = Span(span.start, end, span.entity_type, span.score)
        out.append(span)
    return out


def _cut_around(spans: list[Span], fixed: list[Span], text: str) -> list[Span]:
    if not fixed:
        return spans
    near = SpanIndex(fixed)  # only the fixed spans that overlap, in their given order
    out: list[Span] = []
    for span in spans:
        pieces = [(span.start, span.end)]
        for _, f in sorted(near.overlapping(span.start, span.end), key=lambda pair: pair[0]):
            next_pieces = []
            for s, e in pieces:
                if f.end <= s or f.start >= e:
                    next_pieces.append((s, e))
                    continue
                if f.start > s:
                    next_pieces.append((s, f.start))
                if f.end < e:
                    next_pieces.append((f.end, e))
            pieces = next_pieces
        for s, e in pieces:
            piece = text[s:e]
            lead = (
                len(piece) - len(piece.lstrip(" \t\n,.'’s-"))
                if piece[:1] in "'’"
                else len(piece) - len(piece.lstrip(" \t\n,.-"))
            )
            trail = len(piece) - len(piece.rstrip(" \t\n,.-"))
            s2, e2 = s + lead, e - trail
            if e2 - s2 >= 2 and any(c.isalnum() for c in text[s2:e2]):
                out.append(Span(s2, e2, span.entity_type, span.score))
    return out
