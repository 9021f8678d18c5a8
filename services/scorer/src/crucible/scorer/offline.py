"""`crucible score IN.jsonl --out OUT.jsonl`: the scorer over JSON lines, no bus, no registry writes.

An input line is one of:
- the scrubber's offline output: `{"text", "scrubbed_text", "spans", ...}` (the scrubbed text is scored),
- a plain `{"text": ..., "reply": ..., "signals": {...}, "context": {...}}` (`reply` optional; also
  `response`/`assistant`), or `{"turns": [{"role", "text"}, ...], ...}`,
- a Record in protobuf JSON (`{"record": {...}}`).
`signals` keys: satisfaction, helpfulness (1-10), action_taken, positive_outcome (booleans).
Each output line keeps the input fields and adds `quality` (`total`, `components`, `measures`),
`category`, `safety` ([{label, score}]), `outcome` (and `reason` when rejected), `threshold`, `review`
and `issues`.
A line that cannot be read is reported with its number and skipped; its content is never echoed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format

from crucible.scorer.core import ScorerStage
from crucible.v1 import records_pb2

BATCH = 64
_REPLY_KEYS = ("reply", "response", "assistant")
_SIGNAL_KEYS = {"satisfaction": float, "helpfulness": float, "action_taken": bool, "positive_outcome": bool}


@dataclass
class ScoreReport:
    written: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)


class LineError(ValueError):
    pass


def record_from_item(item: dict[str, Any], number: int) -> records_pb2.Record:
    if isinstance(item.get("record"), dict):
        try:
            return json_format.ParseDict(item["record"], records_pb2.Record(), ignore_unknown_fields=True)
        except json_format.ParseError as err:
            raise LineError(f"bad `record`: {err}") from None
    record = records_pb2.Record(record_id=str(item.get("record_id") or item.get("id") or f"line:{number}"))
    if isinstance(item.get("turns"), list):
        for turn in item["turns"]:
            if not isinstance(turn, dict) or not isinstance(turn.get("text"), str):
                raise LineError("each of `turns` needs a string `text`")
            record.turns.add(role=str(turn.get("role", "user")), text=turn["text"])
    else:
        text = item.get("scrubbed_text", item.get("text"))
        if not isinstance(text, str):
            raise LineError("no string field `text` (or `scrubbed_text`, `turns`, `record`)")
        record.turns.add(role="user", text=text)
        reply = next((item[k] for k in _REPLY_KEYS if isinstance(item.get(k), str)), None)
        if reply is not None:
            record.turns.add(role="assistant", text=reply)
    signals = item.get("signals") or {}
    if not isinstance(signals, dict):
        raise LineError("`signals` must be an object")
    for key, kind in _SIGNAL_KEYS.items():
        value = signals.get(key)
        if value is None:
            continue
        if kind is bool and isinstance(value, bool):
            setattr(record.signals, key, value)
        elif kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            setattr(record.signals, key, float(value))
        else:
            # Kept unset: the scorer counts it as unknown; the line says why.
            item.setdefault("_signal_issues", []).append(f"signal {key}={value!r} is not a {kind.__name__}: ignored")
    context = item.get("context") or {}
    if isinstance(context, dict):
        record.context.update({str(k): str(v) for k, v in context.items() if v is not None})
    return record


def score_lines(stage: ScorerStage, lines: Iterable[str], report: ScoreReport) -> Iterator[str]:
    pending: list[tuple[dict[str, Any], records_pb2.Record]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise LineError("not a JSON object")
            pending.append((item, record_from_item(item, number)))
        except json.JSONDecodeError as err:
            report.bad_lines.append((number, f"not JSON ({err.msg})"))
        except LineError as err:
            report.bad_lines.append((number, str(err)))
        if len(pending) >= BATCH:
            yield from _flush(stage, pending, report)
            pending = []
    if pending:
        yield from _flush(stage, pending, report)


def _flush(
    stage: ScorerStage, pending: list[tuple[dict[str, Any], records_pb2.Record]], report: ScoreReport
) -> Iterator[str]:
    for (item, _), scored in zip(pending, stage.score([r for _, r in pending]), strict=True):
        q = scored.record.quality
        extra_issues = item.pop("_signal_issues", [])
        item["quality"] = {
            "total": q.total,
            "components": dict(sorted(q.components.items())),
            "measures": dict(sorted(q.measures.items())),
        }
        item["category"] = scored.record.category
        item["safety"] = [{"label": s.label, "score": s.score} for s in scored.record.safety]
        item["outcome"] = scored.outcome
        if scored.outcome == "rejected":
            item["reason"] = scored.reason  # below_quality, reply_<kind>, irrelevant, outdated
        item["threshold"] = scored.threshold
        item["review"] = scored.review_reasons
        item["issues"] = extra_issues + scored.issues
        report.written += 1
        key = f"rejected:{scored.reason}" if scored.outcome == "rejected" else scored.outcome
        report.outcomes[key] = report.outcomes.get(key, 0) + 1
        yield json.dumps(item, ensure_ascii=False)
