"""The scrubber's pure core: raw records in, scrubbed records (or residual-PII rejections) out."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from crucible.common.stage import Rejection, StageResult, each_record
from crucible.scrubber import __version__
from crucible.scrubber.anonymize import anonymize, placeholder_for
from crucible.scrubber.detect import Detector
from crucible.scrubber.known import KnownEntitiesError, NameMatcher, parse_known_entities
from crucible.scrubber.policy import ScrubberPolicy
from crucible.scrubber.residual import residual_findings
from crucible.scrubber.spans import Span
from crucible.v1 import records_pb2

# Rejection reason of a record over policy `scrubber.max_record_chars`.
TOO_LARGE = "too_large"
# Names found in one turn are carried to every turn of the conversation; only names with a
# letter count of at least this are carried (a stray "Al" would hit too much).
MIN_CARRIED_NAME = 3


@dataclass
class ScrubbedText:
    text: str
    spans: list[Span]


@dataclass
class ScrubbedConversation:
    turns: list[ScrubbedText]
    counts: Counter[str] = field(default_factory=Counter)
    residual: list[str] = field(default_factory=list)  # "turn 2: known_name:USER" (no values)


def _names_found(texts: Sequence[str], spans_per_text: Sequence[list[Span]]) -> dict[str, list[str]]:
    """Surface strings of people/workplaces found in some turn, to look for in every turn."""
    found: dict[str, set[str]] = {"PERSON": set(), "ORGANIZATION": set()}
    for text, spans in zip(texts, spans_per_text, strict=True):
        for s in spans:
            if s.entity_type in found:
                value = text[s.start : s.end]
                if len(value) >= MIN_CARRIED_NAME:
                    found[s.entity_type].add(value)
    return {k: sorted(v) for k, v in found.items() if v}


def scrub_conversation(
    detector: Detector,
    texts: Sequence[str],
    known_entities: Mapping[str, Sequence[str]] | None = None,
    identifiers: Sequence[str] = (),
) -> ScrubbedConversation:
    """Scrub a conversation turn by turn, the same placeholder for the same person in every turn."""
    known = NameMatcher(known_entities or {}, detector.lex)
    matchers = [known] if known else []
    first_pass = [detector.detect(t, matchers, identifiers) for t in texts]
    carried = _names_found(texts, first_pass)
    if carried and len(texts) > 1:
        matchers = [*matchers, NameMatcher(carried, detector.lex)]
        spans_per_text = [detector.detect(t, matchers, identifiers) for t in texts]
    else:
        spans_per_text = first_pass
    out = ScrubbedConversation(turns=[])
    for i, (text, spans) in enumerate(zip(texts, spans_per_text, strict=True)):
        scrubbed = anonymize(text, spans)
        out.turns.append(ScrubbedText(scrubbed, spans))
        out.counts.update(placeholder_for(s.entity_type).strip("[]") for s in spans)
        out.residual.extend(
            f"turn {i}: {f}" for f in residual_findings(scrubbed, [known] if known else [], identifiers)
        )
    return out


def _identifiers(record: records_pb2.Record) -> list[str]:
    raw = record.private_context.get("known_identifiers", "")
    if not raw:
        return []
    value = json.loads(raw)
    if not isinstance(value, list):
        raise KnownEntitiesError("known_identifiers must be a JSON list of strings")
    return [str(v) for v in value if v]


@dataclass
class Scrubber:
    """The `scrubber` stage: `process(batch) -> StageResult`, no I/O. Provenance is the
    worker's to stamp, as for every stage."""

    detector: Detector
    name: str = "scrubber"
    version: str = __version__
    # Policy `scrubber.max_record_chars`: longer records are rejected (`too_large`), not scrubbed.
    max_record_chars: int = ScrubberPolicy().max_record_chars

    @classmethod
    def create(cls, policy: ScrubberPolicy | None = None) -> Scrubber:
        return cls(detector=Detector.create(), max_record_chars=(policy or ScrubberPolicy()).max_record_chars)

    def process(self, batch: Sequence[records_pb2.Record]) -> StageResult:
        # Record by record: one that raises is reported as failed, the rest are not redone.
        return each_record(batch, self._one)

    def _one(self, record: records_pb2.Record) -> StageResult:
        kept, rejection = self.scrub_record(record)
        return StageResult(kept=[kept] if kept is not None else [], rejected=[rejection] if rejection else [])

    def scrub_record(self, record: records_pb2.Record) -> tuple[records_pb2.Record | None, Rejection | None]:
        out = records_pb2.Record()
        out.CopyFrom(record)
        # Whatever happens next, identifying context never leaves this stage.
        out.ClearField("private_context")
        chars = sum(len(t.text) for t in record.turns)
        if chars > self.max_record_chars:
            for turn in out.turns:
                turn.text = ""
            detail = f"{chars} characters of turn text; policy scrubber.max_record_chars is {self.max_record_chars}"
            return None, Rejection(out, reason=TOO_LARGE, detail=detail)
        try:
            known = parse_known_entities(record.private_context.get("known_entities"))
            identifiers = _identifiers(record)
        except (ValueError, KnownEntitiesError) as err:
            for turn in out.turns:
                turn.text = ""
            detail = f"private_context unreadable ({type(err).__name__}); turns withheld"
            return None, Rejection(out, reason="bad_private_context", detail=detail, dlq=True)
        scrubbed = scrub_conversation(self.detector, [t.text for t in record.turns], known, identifiers)
        for turn, clean in zip(out.turns, scrubbed.turns, strict=True):
            turn.text = clean.text
        out.redactions.clear()
        for label, count in sorted(scrubbed.counts.items()):
            out.redactions[label] = count
        if scrubbed.residual:
            detail = "residual PII after anonymisation: " + "; ".join(scrubbed.residual)
            return None, Rejection(out, reason="residual_pii", detail=detail, dlq=True)
        return out, None
