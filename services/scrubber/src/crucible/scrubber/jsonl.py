"""`crucible scrub IN.jsonl --out OUT.jsonl`: the offline scrubber over JSON lines.

Each input line: `{"text": ..., "known_entities": {"User": [...], "Partner": [...]}}` (the second
optional). Each output line keeps the input fields and adds `scrubbed_text` and `spans`
(`start`, `end`, `entity_type`, offsets into the original `text`). Bad lines are reported with
their line number and skipped; the caller exits non-zero if there were any.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from crucible.scrubber.core import scrub_conversation
from crucible.scrubber.detect import Detector
from crucible.scrubber.known import KnownEntitiesError, parse_known_entities


@dataclass
class ScrubReport:
    written: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, why) — never the content


def scrub_lines(detector: Detector, lines: Iterable[str], report: ScrubReport) -> Iterator[str]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            report.bad_lines.append((number, f"not JSON ({err.msg})"))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            report.bad_lines.append((number, "no string field `text`"))
            continue
        try:
            known = parse_known_entities(item.get("known_entities"))
        except (KnownEntitiesError, ValueError, TypeError) as err:
            report.bad_lines.append((number, f"bad `known_entities`: {err}"))
            continue
        result = scrub_conversation(detector, [item["text"]], known).turns[0]
        item["scrubbed_text"] = result.text
        item["spans"] = [{"start": s.start, "end": s.end, "entity_type": s.entity_type} for s in result.spans]
        report.written += 1
        yield json.dumps(item, ensure_ascii=False)
