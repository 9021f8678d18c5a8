"""Source row -> Record: the extractor's pure core (no I/O).

A `SourceRow` is one row of an extractable table plus what the shell looked up for it
(the author, their partner, the couple, a conversation's messages, linked feedback). The
mapping follows docs/developing.md "Record conventions". A row that cannot be mapped
raises `MappingError` with a short stable reason (a metric label) and a detail that names
columns and values but never personal data.

About 430 lines on purpose: one mapping per source table (check-ins, activities, quizzes,
conversations), each next to the shared record-building steps it uses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from crucible.common.privacy_keys import subject_digest
from crucible.v1 import records_pb2

STAGE = "extractor"


class MappingError(ValueError):
    """A row that cannot become a Record. `reason` is a stable code, `detail` has no PII."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Person:
    """A user row, as far as the mapping needs it."""

    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    street_address: str = ""
    workplace: str = ""
    birth_year: int | None = None
    gender: str = ""
    language: str = ""
    culture: str = ""

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True)
class Couple:
    relationship_stage: str = ""
    relationship_type: str = ""


@dataclass
class SourceRow:
    table: str
    row: Mapping[str, Any]
    user: Person | None = None
    partner: Person | None = None
    couple: Couple | None = None
    messages: Sequence[Mapping[str, Any]] = ()  # conversations: their messages, any order
    feedback: Sequence[Mapping[str, Any]] = ()  # conversations/activities: linked feedback rows


@dataclass(frozen=True)
class ExtractionContext:
    """What every record of one extraction run shares."""

    database: str
    secret: bytes
    run_id: str
    extracted_at: dt.datetime
    min_quality: float
    version: str
    # Digests of forgotten and opted-out subjects (`excluded_subjects`): their rows are skipped.
    excluded: frozenset[str] = frozenset()


@dataclass
class MappingFailure:
    table: str
    key: str
    reason: str
    detail: str
    kind: int = records_pb2.RECORD_KIND_UNSPECIFIED


@dataclass
class MappedRows:
    records: list[records_pb2.Record] = field(default_factory=list)
    failures: list[MappingFailure] = field(default_factory=list)
    excluded: int = 0  # rows of forgotten or opted-out subjects, never mapped


KINDS: dict[str, int] = {
    "checkins": records_pb2.RECORD_KIND_CHECKIN,
    "activities": records_pb2.RECORD_KIND_ACTIVITY,
    "quiz_results": records_pb2.RECORD_KIND_QUIZ,
    "conversations": records_pb2.RECORD_KIND_CONVERSATION,
    "feedback": records_pb2.RECORD_KIND_FEEDBACK,
}

# feedback column -> the table of the row it rates
FEEDBACK_TARGETS = (("checkin_id", "checkins"), ("conversation_id", "conversations"), ("activity_id", "activities"))

ROLE_ALIASES = {
    "user": "user",
    "client": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "coach": "assistant",
    "bot": "assistant",
    "system": "system",
}

AGE_BANDS = ((25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"))


def record_id(table: str, key: str) -> str:
    """Stable id of a source row: the same row gets the same id in every run."""
    return hashlib.sha256(f"{table}:{key}".encode()).hexdigest()[:32]


def subject_token(secret: bytes, user_id: str) -> str:
    """HMAC-SHA256(secret, user_id), hex: the only way a person is referred to downstream."""
    return hmac.new(secret, str(user_id).encode(), hashlib.sha256).hexdigest()


def _is_excluded(user_id: Any, ctx: ExtractionContext) -> bool:
    return subject_digest(subject_token(ctx.secret, user_id)) in ctx.excluded


def as_utc(value: Any, column: str = "created_at") -> dt.datetime:
    """A timestamp column value as an aware UTC datetime. Naive values are UTC (SQLite)."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise MappingError("bad_timestamp", f"{column} is not an ISO timestamp") from None
    else:
        raise MappingError("bad_timestamp", f"{column} has type {type(value).__name__}, not a timestamp")
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@lru_cache(maxsize=64)
def _run_timestamp(moment: dt.datetime) -> Timestamp:
    """The run's extraction time, converted once (callers copy it, never mutate it)."""
    return _timestamp(moment)


def _timestamp(moment: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _key(src: SourceRow) -> str:
    key = src.row.get("id")
    if key is None or _text(key) == "":
        raise MappingError("missing_key", f"{src.table} row has no id")
    return _text(key)


def _rating(value: Any, column: str) -> float | None:
    """A 1..10 rating; None when unset. Anything else is an error naming the column."""
    if value is None or value == "":
        return None
    try:
        rating = float(value)
    except (TypeError, ValueError):
        raise MappingError("invalid_rating", f"{column} is not a number") from None
    if not 1.0 <= rating <= 10.0:
        raise MappingError("invalid_rating", f"{column}={rating:g} is outside 1..10")
    return rating


def _flag(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "t", "yes", "y")
    return bool(value)


def age_band(birth_year: int | None, at: dt.datetime) -> str:
    if not birth_year:
        return ""
    age = at.year - int(birth_year)
    if age < 18:
        return "under_18"
    for upper, band in AGE_BANDS:
        if age < upper:
            return band
    return "65+"


# Cached per person (pair): a user writes many rows, and these JSON strings are the same each time.
@lru_cache(maxsize=4096)
def _known_entities(user: Person, partner: Person | None) -> str:
    def names(p: Person) -> list[str]:
        return [n for n in dict.fromkeys((p.full_name, p.first_name, p.last_name)) if n]

    entities = {"User": names(user)}
    if partner is not None:
        entities["Partner"] = names(partner)
    return json.dumps(entities, ensure_ascii=False)


@lru_cache(maxsize=4096)
def _known_identifiers(user: Person, partner: Person | None) -> str:
    values: list[str] = []
    for p in (user, partner):
        if p is not None:
            values += [p.email, p.phone, p.street_address, p.workplace]
    return json.dumps([v for v in dict.fromkeys(values) if v], ensure_ascii=False)


def _base_record(src: SourceRow, ctx: ExtractionContext) -> records_pb2.Record:
    key = _key(src)
    if src.user is None:
        raise MappingError("unknown_user", f"{src.table} row {key}: its user is not in the users table")
    created = as_utc(src.row.get("created_at"))
    rec = records_pb2.Record(
        record_id=record_id(src.table, key),
        source=records_pb2.Source(table=src.table, key=key, database=ctx.database),
        kind=KINDS[src.table],
        subject_token=subject_token(ctx.secret, src.user.id),
        created_at=_timestamp(created),
        extraction=records_pb2.Extraction(
            run_id=ctx.run_id, extracted_at=_run_timestamp(ctx.extracted_at), min_quality=ctx.min_quality
        ),
    )
    rec.provenance.append(records_pb2.StageStamp(stage=STAGE, version=ctx.version, at=_run_timestamp(ctx.extracted_at)))
    user, partner = src.user, src.partner
    context = {
        "age_band": age_band(user.birth_year, created),
        "language": user.language,
        "culture": user.culture,
        "gender_user": user.gender,
        "gender_partner": partner.gender if partner else "",
    }
    if src.couple is not None:
        context["relationship_stage"] = src.couple.relationship_stage
        context["relationship_type"] = src.couple.relationship_type
    rec.context.update({k: v for k, v in context.items() if v})
    rec.private_context["known_entities"] = _known_entities(user, partner)
    rec.private_context["known_identifiers"] = _known_identifiers(user, partner)
    return rec


def _pair(rec: records_pb2.Record, user_text: str, reply: str) -> None:
    rec.turns.append(records_pb2.Turn(role="user", text=user_text, speaker="user"))
    rec.turns.append(records_pb2.Turn(role="assistant", text=reply, speaker="coach"))


def _require_text(src: SourceRow, column: str) -> str:
    text = _text(src.row.get(column))
    if not text:
        raise MappingError("empty_text", f"{src.table} row {_key(src)}: {column} is empty")
    return text


def _apply_feedback(rec: records_pb2.Record, rows: Sequence[Mapping[str, Any]]) -> None:
    """Signals from the latest linked feedback row. A bad value there leaves the signal unset:
    the feedback row itself reports the error when it is extracted."""
    if not rows:
        return
    latest = max(rows, key=lambda r: (_text(r.get("created_at")), _text(r.get("id"))))
    try:
        helpfulness = _rating(latest.get("helpfulness"), "helpfulness")
    except MappingError:
        helpfulness = None
    if helpfulness is not None:
        rec.signals.helpfulness = helpfulness
    action, positive = _flag(latest.get("action_taken")), _flag(latest.get("positive_outcome"))
    if action is not None:
        rec.signals.action_taken = action
    if positive is not None:
        rec.signals.positive_outcome = positive


def map_checkin(src: SourceRow, ctx: ExtractionContext) -> records_pb2.Record:
    rec = _base_record(src, ctx)
    _pair(rec, _require_text(src, "reflection"), _text(src.row.get("ai_reply")))
    if _text(src.row.get("mood")):
        rec.context["mood"] = _text(src.row.get("mood"))
    if src.row.get("connection_score") is not None:
        rec.context["connection_score"] = _text(src.row.get("connection_score"))
    _apply_feedback(rec, src.feedback)
    return rec


def map_activity(src: SourceRow, ctx: ExtractionContext) -> records_pb2.Record:
    rec = _base_record(src, ctx)
    satisfaction = _rating(src.row.get("satisfaction_rating"), "satisfaction_rating")
    _pair(rec, _require_text(src, "feedback_text"), _text(src.row.get("ai_suggestion")))
    for column, key in (("activity_type", "activity_type"), ("title", "activity_title")):
        if _text(src.row.get(column)):
            rec.context[key] = _text(src.row.get(column))
    _apply_feedback(rec, src.feedback)
    if satisfaction is not None:
        rec.signals.satisfaction = satisfaction
    return rec


def map_quiz(src: SourceRow, ctx: ExtractionContext) -> records_pb2.Record:
    rec = _base_record(src, ctx)
    quiz = _require_text(src, "quiz_name")
    raw = src.row.get("answers")
    try:
        answers = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as err:
        raise MappingError("bad_json", f"quiz_results row {_key(src)}: answers is not valid JSON ({err.msg})") from None
    if not isinstance(answers, dict) or not answers:
        raise MappingError("bad_json", f"quiz_results row {_key(src)}: answers is not a non-empty JSON object")
    lines = [f"I took the {quiz} quiz."] + [f"{q} {_text(a)}" for q, a in answers.items()]
    _pair(rec, "\n".join(lines), _text(src.row.get("result_summary")))
    rec.context["quiz_name"] = quiz
    completed = _flag(src.row.get("completed"))
    if completed is not None:
        rec.context["quiz_completed"] = "true" if completed else "false"
    return rec


def map_conversation(src: SourceRow, ctx: ExtractionContext) -> records_pb2.Record:
    rec = _base_record(src, ctx)
    if not src.messages:
        raise MappingError("no_messages", f"conversations row {rec.source.key} has no messages")
    ordered = sorted(src.messages, key=lambda m: (int(m.get("seq") or 0), _text(m.get("id"))))
    for m in ordered:
        role = ROLE_ALIASES.get(_text(m.get("role")).lower())
        if role is None:
            raise MappingError(
                "unknown_role", f"conversations row {rec.source.key}: a message has role {_text(m.get('role'))[:20]!r}"
            )
        speaker = {"user": "user", "assistant": "coach"}.get(role, role)
        rec.turns.append(records_pb2.Turn(role=role, text=_text(m.get("content")), speaker=speaker))
    if not any(t.role == "user" and t.text for t in rec.turns):
        raise MappingError("empty_text", f"conversations row {rec.source.key}: no user message has text")
    if _text(src.row.get("topic")):
        rec.context["topic"] = _text(src.row.get("topic"))
    _apply_feedback(rec, src.feedback)
    return rec


def map_feedback(src: SourceRow, ctx: ExtractionContext) -> records_pb2.Record:
    """A feedback row: its signals, and the comment (when there is one) as the user's turn.
    `feedback_on_record` links it to the check-in, conversation or activity record it rates."""
    rec = _base_record(src, ctx)
    helpfulness = _rating(src.row.get("helpfulness"), "helpfulness")
    if helpfulness is not None:
        rec.signals.helpfulness = helpfulness
    for column in ("action_taken", "positive_outcome"):
        value = _flag(src.row.get(column))
        if value is not None:
            setattr(rec.signals, column, value)
    comment = _text(src.row.get("comment"))
    if comment:
        rec.turns.append(records_pb2.Turn(role="user", text=comment, speaker="user"))
    for column, table in (
        ("checkin_id", "checkins"),
        ("conversation_id", "conversations"),
        ("activity_id", "activities"),
    ):
        target = src.row.get(column)
        if target is not None and _text(target):
            rec.context["feedback_on"] = table
            rec.context["feedback_on_record"] = record_id(table, _text(target))
            break
    return rec


MAPPERS = {
    "checkins": map_checkin,
    "activities": map_activity,
    "quiz_results": map_quiz,
    "conversations": map_conversation,
    "feedback": map_feedback,
}


def map_row(src: SourceRow, ctx: ExtractionContext) -> records_pb2.Record:
    """One source row -> one Record, or MappingError."""
    try:
        mapper = MAPPERS[src.table]
    except KeyError:
        raise MappingError("unknown_table", f"no mapping for table {src.table!r}") from None
    return mapper(src, ctx)


def map_rows(rows: Iterable[SourceRow], ctx: ExtractionContext) -> MappedRows:
    """Map many rows; a failing row becomes a MappingFailure, never an exception."""
    out = MappedRows()
    for src in rows:
        if ctx.excluded and src.user is not None and _is_excluded(src.user.id, ctx):
            out.excluded += 1
            continue
        try:
            out.records.append(map_row(src, ctx))
        except MappingError as err:
            key = _text(src.row.get("id"))
            out.failures.append(MappingFailure(src.table, key, err.reason, err.detail, KINDS.get(src.table, 0)))
        except Exception as err:
            # Only the exception type: its message may quote the row's (personal) values.
            key = _text(src.row.get("id"))
            detail = f"{src.table} row {key}: unexpected {type(err).__name__}"
            out.failures.append(MappingFailure(src.table, key, "unmappable", detail, KINDS.get(src.table, 0)))
    return out
