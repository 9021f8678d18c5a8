"""What the scorer reads from a record: its turns, split by speaker, and its signals checked for range.

A signal that is missing counts as unknown (no points). A signal that is present but impossible
(satisfaction 42, NaN) also counts as unknown, and the record says why (`issues`), so a bad row from
the app is scored, explained, and never crashes the stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from crucible.v1 import records_pb2

ASSISTANT_ROLES = frozenset({"assistant"})
# Turns whose text is the person's own words: the safety classifier reads these.
PERSON_ROLES = frozenset({"user", "partner"})
RATING_RANGE = (1.0, 10.0)


@dataclass(frozen=True)
class RecordView:
    turns: list[tuple[str, str]]  # (role, text) of the encoded turns, oldest first
    turn_count: int  # all turns of the record (the engagement measure), not only the encoded ones
    reply_chars: float  # mean length of the assistant's replies; 0 when there is none
    pairs: list[tuple[int, int]]  # (person turn, the assistant turn answering it), indexes into `turns`
    issues: list[str] = field(default_factory=list)

    def texts(self, roles: frozenset[str]) -> list[str]:
        return [text for role, text in self.turns if role in roles]


@dataclass(frozen=True)
class CheckedSignals:
    satisfaction: float | None
    action_taken: bool | None
    positive_outcome: bool | None
    issues: list[str] = field(default_factory=list)
    invalid: dict[str, float] = field(default_factory=dict)  # signal -> 1.0 when present but unusable
    from_helpfulness: bool = False  # satisfaction absent: the helpfulness vote stands in


def view_record(record: records_pb2.Record, max_turns: int) -> RecordView:
    issues: list[str] = []
    all_turns = [(t.role.strip().lower(), t.text.strip()) for t in record.turns]
    nonempty = [(role, text) for role, text in all_turns if text]
    if len(nonempty) < len(all_turns):
        issues.append(f"{len(all_turns) - len(nonempty)} empty turn(s) ignored")
    unknown_roles = sorted({role for role, _ in nonempty} - ASSISTANT_ROLES - PERSON_ROLES - {"system"})
    if unknown_roles:
        issues.append(f"turn role(s) {unknown_roles} read as the person's words")
    # The latest turns: they carry the exchange being scored, and bound the encoder's work.
    # System prompts are the app's instructions, not the exchange: not encoded.
    spoken = [("assistant" if role in ASSISTANT_ROLES else "user", text) for role, text in nonempty if role != "system"]
    turns = spoken[-max_turns:]
    if len(spoken) > max_turns:
        issues.append(f"only the last {max_turns} of {len(spoken)} turns encoded")
    replies = [text for role, text in nonempty if role in ASSISTANT_ROLES]
    if not replies:
        issues.append("no assistant reply")
    if not any(role == "user" for role, _ in spoken):
        issues.append("no user turn")
    pairs: list[tuple[int, int]] = []
    last_person: int | None = None
    for i, (role, _) in enumerate(turns):
        if role == "user":
            last_person = i
        elif role == "assistant" and last_person is not None:
            pairs.append((last_person, i))
            last_person = None
    reply_chars = sum(len(r) for r in replies) / len(replies) if replies else 0.0
    return RecordView(turns=turns, turn_count=len(nonempty), reply_chars=reply_chars, pairs=pairs, issues=issues)


def _rating(record: records_pb2.Record, name: str, issues: list[str], invalid: dict[str, float]) -> float | None:
    if not (record.HasField("signals") and record.signals.HasField(name)):
        return None
    value = getattr(record.signals, name)
    if math.isfinite(value) and RATING_RANGE[0] <= value <= RATING_RANGE[1]:
        return value
    shown = f"{value:g}" if math.isfinite(value) else str(value)
    issues.append(f"{name} {shown} outside {RATING_RANGE[0]:g}..{RATING_RANGE[1]:g}: counted as unknown")
    invalid[name] = 1.0
    return None


def check_signals(record: records_pb2.Record) -> CheckedSignals:
    """The seed's "user satisfaction" is how the user rated the help they got. Activities carry it as
    `satisfaction` (the rating of the date itself); check-ins and conversations only have the user's
    helpfulness vote on the coach's reply, which is that same judgement, so it stands in when
    `satisfaction` is absent (`satisfaction_from_helpfulness` = 1 in the measures says so)."""
    issues: list[str] = []
    invalid: dict[str, float] = {}
    satisfaction = _rating(record, "satisfaction", issues, invalid)
    from_helpfulness = False
    if satisfaction is None and "satisfaction" not in invalid:
        satisfaction = _rating(record, "helpfulness", issues, invalid)
        from_helpfulness = satisfaction is not None
    signals = record.signals
    action = signals.action_taken if record.HasField("signals") and signals.HasField("action_taken") else None
    outcome = signals.positive_outcome if record.HasField("signals") and signals.HasField("positive_outcome") else None
    return CheckedSignals(satisfaction, action, outcome, issues, invalid, from_helpfulness)


SYNTHETIC_TABLE = "synthetic"


def effective_threshold(record: records_pb2.Record, default: float, app_signal_share: float = 0.0) -> float:
    """The extraction run's own threshold wins when it set one (min_quality > 0).

    Otherwise `default`, except for a synthetic record (`source.table == "synthetic"`): it can
    never carry the app's signals (satisfaction, action taken, positive outcome), which hold
    `app_signal_share` of the points, so its bar is the same share of the points it can earn
    (7.0 of 10 becomes 4.2 of the 6 a generated conversation can reach). Without this no
    generated record could pass, however good; with it, it meets real data's bar, not a lower one.
    """
    min_quality = record.extraction.min_quality if record.HasField("extraction") else 0.0
    if math.isfinite(min_quality) and 0 < min_quality <= 10:
        return float(min_quality)
    if record.source.table == SYNTHETIC_TABLE:
        return round(default * (1.0 - app_signal_share), 4)
    return default
