"""The scrubber over the demo database's own records (built by the extractor's real mapping):
no known name or identifier of any user or partner survives into a scrubbed record, and every
record either comes out scrubbed or goes to the DLQ with a value-free reason."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

extractor = pytest.importorskip("crucible.extractor.demo.generator")


def _demo_records(tmp_path: Path, users: int) -> list:
    from crucible.extractor.demo.generator import write_demo
    from crucible.extractor.mapping import ExtractionContext, map_rows
    from crucible.extractor.source import SOURCE_TABLES, SourceDatabase, assemble

    path = tmp_path / "demo.db"
    write_demo(path, users, 7)
    db = SourceDatabase(f"sqlite:///{path}")
    ctx = ExtractionContext(db.label, b"test-secret", "test", dt.datetime.now(dt.UTC), 0.0, "test")
    since = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    records = []
    try:
        for name, spec in SOURCE_TABLES.items():
            for rows in db.chunks(db.check(spec), since, None, 512):
                records.extend(map_rows(assemble(db, name, rows), ctx).records)
    finally:
        db.close()
    return records


def _mentions(value: str, text: str) -> int:
    """Whole-word, case-insensitive mentions (a surname "Bal" is not in "balancing")."""
    return len(re.findall(rf"(?<!\w){re.escape(value.lower())}(?!\w)", text))


def _planted(record) -> list[str]:
    known = json.loads(record.private_context["known_entities"])
    names = [n for names in known.values() for n in names]
    return names + json.loads(record.private_context.get("known_identifiers", "[]"))


def test_no_known_name_or_identifier_survives_on_demo_db_records(tmp_path: Path) -> None:
    from crucible.scrubber.core import Scrubber

    raw = _demo_records(tmp_path, users=25)
    assert len(raw) > 100
    planted = {r.record_id: _planted(r) for r in raw}
    raw_mentions = sum(
        "\n".join(t.text for t in r.turns).lower().count(v.lower())
        for r in raw
        for v in planted[r.record_id]
        if len(v) >= 3
    )
    assert raw_mentions > 50, "the demo data should mention the people it names"
    result = Scrubber.create().process(raw)
    assert len(result.kept) + len(result.rejected) == len(raw)
    mentions = surviving = 0
    for rec in result.kept:
        assert not rec.private_context
        text = "\n".join(t.text for t in rec.turns).lower()
        for value in planted[rec.record_id]:
            mentions += 1
            if len(value) >= 3 and _mentions(value, text):
                surviving += 1
                pytest.fail(f"record {rec.record_id}: a planted value survived: {value!r} in {text!r}")
    for rej in result.rejected:
        assert rej.dlq and rej.reason in {"residual_pii", "bad_private_context"}
        for value in planted[rej.record.record_id]:
            assert value.lower() not in rej.detail.lower()
    print(
        json.dumps(
            {
                "demo_db_records": len(raw),
                "scrubbed": len(result.kept),
                "residual_rejections": len(result.rejected),
                "known_mentions_in_raw_text": raw_mentions,
                "planted_values_checked": mentions,
                "surviving": surviving,
            }
        )
    )
