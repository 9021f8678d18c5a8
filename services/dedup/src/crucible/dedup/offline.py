"""The offline command's pure part: parse input lines, attach decisions to output lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from crucible.dedup.index import Decision


class BadLine(ValueError):
    pass


@dataclass(frozen=True)
class InputLine:
    number: int
    record_id: str
    text: str
    obj: dict[str, Any]


def parse_line(number: int, line: str) -> InputLine | None:
    """`{"id", "text"}` or a Record as JSON (`record_id`, `turns`); None for a blank line."""
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        raise BadLine(f"not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(obj, dict):
        raise BadLine(f"expected a JSON object, got {type(obj).__name__}")
    if "text" in obj:
        rid, text = obj.get("id"), obj["text"]
        if not isinstance(text, str):
            raise BadLine('"text" must be a string')
        if isinstance(rid, bool) or not isinstance(rid, str | int) or rid == "":
            raise BadLine('"id" must be a non-empty string (or an integer)')
        return InputLine(number, str(rid), text, obj)
    if "turns" in obj or "record_id" in obj or "recordId" in obj:
        from google.protobuf import json_format

        from crucible.dedup.normalise import record_text
        from crucible.v1 import records_pb2

        try:
            record = json_format.ParseDict(obj, records_pb2.Record(), ignore_unknown_fields=True)
        except json_format.ParseError as err:
            raise BadLine(f"not a valid Record: {err}") from None
        if not record.record_id:
            raise BadLine('a Record line needs "record_id"')
        return InputLine(number, record.record_id, record_text(record), obj)
    raise BadLine('expected {"id", "text"} or a Record with "record_id" and "turns"')


def output_object(line: InputLine, decision: Decision) -> dict[str, Any]:
    out = dict(line.obj)
    out["cluster_id"] = decision.cluster_id
    out["duplicate_of"] = decision.duplicate_of or None
    out["similarity"] = round(decision.similarity, 6)
    return out
