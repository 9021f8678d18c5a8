"""Replacement: detected spans -> placeholders.

Detection and replacement stay apart (as in Presidio): spans are a first-class output, and the
anonymizer only applies them. Spans arrive already resolved (sorted, non-overlapping), so the
hot path is a plain join; presidio-anonymizer's `replace` operator does the same job with its
own conflict handling at about a third of our per-record budget, and stays as the oracle
(`anonymize_with_presidio`, checked against `anonymize` in the tests on the benchmark texts)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from crucible.scrubber.spans import PLACEHOLDERS, Span


def placeholder_for(entity_type: str) -> str:
    if entity_type in PLACEHOLDERS:
        return PLACEHOLDERS[entity_type]
    # Extra labels from `known_entities` ("Child": [...]) keep their own label: [Child].
    return "[" + entity_type.replace("_", " ").title().replace(" ", "") + "]"


@lru_cache(maxsize=1)
def _engine():
    from presidio_anonymizer import AnonymizerEngine

    return AnonymizerEngine()


@lru_cache(maxsize=256)
def _operators(types: frozenset[str]):
    from presidio_anonymizer.entities import OperatorConfig

    return {t: OperatorConfig("replace", {"new_value": placeholder_for(t)}) for t in types}


def anonymize(text: str, spans: Sequence[Span]) -> str:
    """`text` with each span replaced by its placeholder; `spans` sorted and non-overlapping."""
    if not spans:
        return text
    parts: list[str] = []
    pos = 0
    for s in spans:
        parts.append(text[pos : s.start])
        parts.append(placeholder_for(s.entity_type))
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)


def anonymize_with_presidio(text: str, spans: Sequence[Span]) -> str:
    if not spans:
        return text
    from presidio_anonymizer.entities import RecognizerResult

    results = [RecognizerResult(s.entity_type, s.start, s.end, s.score) for s in spans]
    return _engine().anonymize(text, results, _operators(frozenset(s.entity_type for s in spans))).text
