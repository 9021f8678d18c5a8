"""Replacement: detected spans -> placeholders, through presidio-anonymizer's `replace` operator.

Detection and replacement stay apart (as in Presidio): spans are a first-class output, and the
anonymizer only applies them."""

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
    if not spans:
        return text
    from presidio_anonymizer.entities import RecognizerResult

    results = [RecognizerResult(s.entity_type, s.start, s.end, s.score) for s in spans]
    return _engine().anonymize(text, results, _operators(frozenset(s.entity_type for s in spans))).text
