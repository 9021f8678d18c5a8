"""Model text -> turns, and turns -> a `Record` like the extractor's, marked synthetic.

Pure. A conversation that cannot be read as alternating person/coach turns is rejected with a
reason, never repaired into something the model did not write."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from crucible.v1 import records_pb2

SOURCE_TABLE = "synthetic"
SOURCE_DATABASE = "synthesizer"
STAGE = "synthesizer"

_SPEAKER = re.compile(r"^\s*(?:\*\*)?(user|person|client|coach|assistant)(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)
_ROLES = {"user": "user", "person": "user", "client": "user", "coach": "assistant", "assistant": "assistant"}


class ConversationError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Provenance:
    plan_id: str
    item_id: str
    category: str
    endpoint: str
    model: str
    template: str
    temperature: float
    seed: int
    synthesizer_version: str


def parse_turns(text: str, min_turns: int) -> list[tuple[str, str]]:
    """`User: ...` / `Coach: ...` lines (continuation lines join the turn above) -> (role, text)."""
    turns: list[tuple[str, str]] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        m = _SPEAKER.match(line)
        if m:
            body = line[m.end() :].strip()
            role = _ROLES[m.group(1).lower()]
            if turns and turns[-1][0] == role:  # the same speaker twice: one turn
                turns[-1] = (role, (turns[-1][1] + " " + body).strip())
            else:
                turns.append((role, body))
        elif turns:
            turns[-1] = (turns[-1][0], (turns[-1][1] + " " + line.strip()).strip())
        # text before the first speaker line (a preamble) is dropped
    turns = [(r, t) for r, t in turns if t]
    if not turns:
        raise ConversationError("unparseable", "no 'User:' / 'Coach:' lines")
    if turns[0][0] != "user":
        turns = turns[1:]
    if turns and turns[-1][0] != "assistant":
        turns = turns[:-1]  # an unanswered last message teaches nothing
    if len(turns) < min_turns:
        raise ConversationError("too_few_turns", f"{len(turns)} turns, policy needs {min_turns}")
    return turns


def synthetic_record_id(item_id: str) -> str:
    """Same form as the extractor's ids (sha256 of `<table>:<key>`), keyed by the plan item, so one
    plan item can only ever be one record."""
    return hashlib.sha256(f"{SOURCE_TABLE}:{item_id}".encode()).hexdigest()[:32]


def build_record(
    turns: list[tuple[str, str]],
    scenario: Mapping[str, str],
    prov: Provenance,
    *,
    secret: bytes,
    run_id: str,
    now: dt.datetime,
    min_quality: float = 0.0,
) -> records_pb2.Record:
    at = Timestamp()
    at.FromDatetime(now)
    record = records_pb2.Record(
        record_id=synthetic_record_id(prov.item_id),
        source=records_pb2.Source(table=SOURCE_TABLE, key=prov.item_id, database=SOURCE_DATABASE),
        kind=records_pb2.RECORD_KIND_CONVERSATION,
        # One pseudo-subject per item: no person stands behind it, and the dataset's subject-grouped
        # splits must not put every synthetic record in one split.
        subject_token=hmac.new(secret, f"synthetic:{prov.item_id}".encode(), hashlib.sha256).hexdigest(),
        turns=[
            records_pb2.Turn(role=role, text=text, speaker="user" if role == "user" else "coach")
            for role, text in turns
        ],
        created_at=at,
        extraction=records_pb2.Extraction(run_id=run_id, extracted_at=at, min_quality=min_quality),
    )
    record.context.update({k: v for k, v in scenario.items() if v})
    record.context["language"] = record.context.get("language", "en")
    record.context["synthetic_category"] = prov.category
    stamps = {
        STAGE: prov.synthesizer_version,
        f"{STAGE}.endpoint": prov.endpoint,
        f"{STAGE}.model": prov.model,
        f"{STAGE}.template": prov.template,
        f"{STAGE}.plan": prov.plan_id,
        f"{STAGE}.temperature": f"{prov.temperature:g}",
        f"{STAGE}.seed": str(prov.seed),
    }
    for stage, version in stamps.items():
        record.provenance.append(records_pb2.StageStamp(stage=stage, version=version, at=at))
    return record


def generation_facts(record: records_pb2.Record) -> dict[str, str]:
    """The provenance stamps written by `build_record`, by short name (endpoint, model, template, ...)."""
    prefix = STAGE + "."
    return {s.stage[len(prefix) :]: s.version for s in record.provenance if s.stage.startswith(prefix)}
