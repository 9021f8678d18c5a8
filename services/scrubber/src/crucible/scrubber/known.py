"""Names known in advance (the user's and partner's, from the extractor) and names discovered in
one turn and carried to the others: matched in any case, with or without accents, and before a
possessive ("TOMASZ'S" -> "[User]'s")."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from crucible.scrubber.lexicon import NEVER_NAMES, WORD_NAMES, Lexicon
from crucible.scrubber.spans import Span

# A known name that is also an everyday English word (lexicon.WORD_NAMES: "Will", "Hope", "May")
# is matched only capitalised (Title or UPPER case), so "I will" stays; other names match in any case.


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    """Lower-case, accent-free, one character for one, so offsets stay valid."""
    table: dict[int, str] = {}
    for code in range(0x250):
        ch = chr(code)
        base = unicodedata.normalize("NFKD", ch)[:1] or ch
        low = base.lower()
        table[code] = low if len(low) == 1 else ch.lower()[:1] or ch
    table[ord("’")] = "'"
    return table


def fold(text: str) -> str:
    return text.translate(_fold_table())


class KnownEntitiesError(ValueError):
    """`known_entities` is not a JSON object of label -> list of strings."""


def parse_known_entities(raw: str | Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    if raw is None or raw == "":
        return {}
    value = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(value, Mapping):
        raise KnownEntitiesError("known_entities must be an object of label -> list of names")
    out: dict[str, list[str]] = {}
    for label, names in value.items():
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
            raise KnownEntitiesError(f"known_entities[{label!r}] must be a list of strings")
        out[str(label)] = [n.strip() for n in names if n and n.strip()]
    return out


def entity_type_for_label(label: str) -> str:
    return label.strip().upper().replace(" ", "_") or "PERSON"


@dataclass(frozen=True)
class _Pattern:
    entity_type: str
    any_case: re.Pattern[str] | None
    cap_only: re.Pattern[str] | None


def _alternation(names: list[str]) -> str:
    parts = sorted({n for n in names}, key=len, reverse=True)
    return "|".join(r"\s+".join(re.escape(w) for w in n.split()) for n in parts)


def _bounded(alternation: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@.])(?:{alternation})(?![\w@]|\.\w)", flags)


class NameMatcher:
    """Finds every mention of a fixed set of names (label -> surface strings)."""

    def __init__(self, entities: Mapping[str, Sequence[str]], lex: Lexicon) -> None:
        self.patterns: list[_Pattern] = []
        self.names: list[str] = []
        for label, names in entities.items():
            entity_type = entity_type_for_label(label)
            variants: set[str] = set()
            for name in names:
                variants.add(name)
                words = name.split()
                if len(words) > 1:  # "Tomasz Okonkwo" also means "Okonkwo" alone
                    variants.update(w for w in words if len(w) > 1 and w.lower() not in NEVER_NAMES)
            any_case = [fold(v) for v in variants if not _is_common(v, lex)]
            cap_only = [v for v in variants if _is_common(v, lex)]
            cap_forms = [f for v in cap_only for f in {v.title(), v.upper(), v}]
            self.names.extend(variants)
            self.patterns.append(
                _Pattern(
                    entity_type,
                    _bounded(_alternation(any_case)) if any_case else None,
                    _bounded(_alternation(cap_forms)) if cap_forms else None,
                )
            )

    def __bool__(self) -> bool:
        return bool(self.names)

    def find(self, text: str, folded: str | None = None) -> Iterator[Span]:
        if not self.names:
            return
        folded = fold(text) if folded is None else folded
        for p in self.patterns:
            if p.any_case is not None:
                for m in p.any_case.finditer(folded):
                    yield Span(m.start(), m.end(), p.entity_type)
            if p.cap_only is not None:
                for m in p.cap_only.finditer(text):
                    yield Span(m.start(), m.end(), p.entity_type)


def _is_common(name: str, lex: Lexicon) -> bool:
    words = name.split()
    return len(words) == 1 and fold(words[0]) in WORD_NAMES
