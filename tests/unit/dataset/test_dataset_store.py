"""The curated store: upserts by record_id, lineage, and the auto-build counter."""

from __future__ import annotations

import time

from dataset_records import make_record
from sqlalchemy import select

from crucible.common.privacy_keys import subject_digest
from crucible.common.registry import CuratedRecord, ForgottenSubject
from crucible.common.stage import StageResult
from crucible.dataset.lineage import record_lineage
from crucible.dataset.store import (
    CuratedSink,
    count_new_since_last_version,
    count_records,
    iter_eligible_records,
    upsert_records,
)
from crucible.v1 import records_pb2


def rows(runtime) -> dict[str, tuple]:
    with runtime.registry.session() as s:
        return {
            r.record_id: (r.record, r.quality, r.updated_at, r.cluster_id, r.category)
            for r in s.scalars(select(CuratedRecord))
        }


def test_upsert_is_idempotent(runtime) -> None:
    batch = [make_record(f"r{i}", cluster="K" if i < 2 else "") for i in range(5)]
    sink = CuratedSink(runtime.registry)
    sink.persist(StageResult(kept=batch))
    first = rows(runtime)
    time.sleep(0.01)
    sink.persist(StageResult(kept=batch))  # a redelivered batch
    sink.persist(StageResult(kept=list(reversed(batch))))
    assert rows(runtime) == first  # same rows, untouched (updated_at included)
    assert count_records(runtime.registry) == 5


def test_a_changed_record_is_updated_in_place(runtime) -> None:
    upsert_records(runtime.registry, [make_record("r1", quality=7.0)])
    upsert_records(runtime.registry, [make_record("r1", quality=9.5, category="personalization")])
    (row,) = rows(runtime).values()
    assert row[1] == 9.5 and row[4] == "personalization"
    assert count_records(runtime.registry) == 1


def test_last_copy_in_a_batch_wins(runtime) -> None:
    upsert_records(runtime.registry, [make_record("r1", quality=7.0), make_record("r1", quality=8.5)])
    assert next(iter(rows(runtime).values()))[1] == 8.5


def test_lineage_is_kept(runtime) -> None:
    record = make_record("r1", subject="tok", cluster="K1")
    record.dedup.duplicate_of = "r0"
    record.provenance.add(stage="dedup", version="0.4.0")
    upsert_records(runtime.registry, [record])
    info = record_lineage(runtime.registry, "r1")
    assert info["source"] == {"table": "checkins", "key": "r1"}
    assert info["subject_token"] == "tok"
    assert info["stage_versions"]["scorer"] == "1.2.3"
    assert info["stage_versions"]["dedup"] == "0.4.0"
    assert "dataset" in info["stage_versions"]
    assert info["dedup"] == {"cluster_id": "K1", "duplicate_of": "r0"}
    assert info["dataset_versions"] == []
    stored = next(iter_eligible_records(runtime.registry))
    assert stored == record  # the serialized Record round-trips
    assert isinstance(stored, records_pb2.Record)


def test_records_of_forgotten_subjects_are_not_stored(runtime) -> None:
    with runtime.registry.session() as s:
        s.add(ForgottenSubject(subject_digest=subject_digest("gone"), removed_records=0))
    counts = upsert_records(runtime.registry, [make_record("a", subject="gone"), make_record("b", subject="here")])
    assert counts == {"written": 1, "skipped_forgotten": 1}
    assert set(rows(runtime)) == {"b"}


def test_new_records_are_counted_since_the_last_version(runtime) -> None:
    upsert_records(runtime.registry, [make_record(f"r{i}") for i in range(3)])
    assert count_new_since_last_version(runtime.registry) == 3
