"""Issue 25 item 5: an id from the bus can never name a path outside the artifact root."""

from __future__ import annotations

from pathlib import Path

import pytest

from crucible.common.artifacts import ArtifactKeyError, ArtifactStore
from crucible.common.contract_ids import event_invalid_ids, invalid_ids, safe_label, split_invalid_ids, valid_id
from crucible.common.stage import StageResult
from crucible.v1 import events_pb2, records_pb2


@pytest.mark.parametrize(
    "key", ["scrubber/tallies/../../../escape.json", "../x", "a/../../b", "a\\..\\b", "a/b\x00c", "a/\n/b"]
)
def test_the_artifact_store_refuses_keys_that_leave_its_root(tmp_path: Path, key: str) -> None:
    store = ArtifactStore((tmp_path / "root").as_uri())
    with pytest.raises(ArtifactKeyError):
        store.write_json(key, {"x": 1})
    with pytest.raises(ArtifactKeyError):
        store.path(key)
    assert not (tmp_path / "escape.json").exists()


def test_ordinary_keys_still_work(tmp_path: Path) -> None:
    store = ArtifactStore((tmp_path / "root").as_uri())
    store.write_json("/datasets/v3_20261122/manifest.json", {"ok": True})
    assert store.read_json("datasets/v3_20261122/manifest.json") == {"ok": True}
    assert store.list("datasets") == ["datasets/v3_20261122/manifest.json"]


def test_the_scrubber_tally_stays_inside_the_root_whatever_the_run_id(tmp_path: Path) -> None:
    from crucible.scrubber.tally import TallySink

    root = tmp_path / "a" / "b" / "root"
    store = ArtifactStore(root.as_uri())
    record = records_pb2.Record(record_id="r1", extraction=records_pb2.Extraction(run_id="../../../../pwned"))
    TallySink(store).persist(StageResult(kept=[record]))
    written = [p for p in tmp_path.rglob("*.json")]
    assert written and all(root in p.parents for p in written), written


@pytest.mark.parametrize("bad", ["../../x", "..", ".", "a/b", "a\\b", "", " x", "x\ny", "x" * 300, "/etc/passwd"])
def test_the_id_pattern_refuses_what_could_name_a_path(bad: str) -> None:
    assert not valid_id(bad)


@pytest.mark.parametrize("good", ["20261204T100000Z-abc123", "c0ffee" * 5, "train-v3_20261122", "crucible-v1-x", "r1"])
def test_the_id_pattern_accepts_the_platform_ids(good: str) -> None:
    assert valid_id(good)


def test_records_with_bad_ids_are_split_off_as_dlq_rejections() -> None:
    good = records_pb2.Record(record_id="ok1", extraction=records_pb2.Extraction(run_id="run-1"))
    bad_run = records_pb2.Record(record_id="ok2", extraction=records_pb2.Extraction(run_id="../../up"))
    bad_id = records_pb2.Record(record_id="x/../../y")
    bad_id.context["free"] = "a/b/../c"  # maps hold context, not ids
    kept, rejected = split_invalid_ids([good, bad_run, bad_id])
    assert kept == [good]
    assert [r.reason for r in rejected] == ["invalid_id", "invalid_id"] and all(r.dlq for r in rejected)
    assert "extraction.run_id" in rejected[0].detail and "record_id" in rejected[1].detail
    assert invalid_ids(good) == []
    assert safe_label("x/../../y").startswith("invalid-") and safe_label("ok1") == "ok1"


def test_events_are_checked_by_their_type_header() -> None:
    evil = events_pb2.TrainRequested(job_id="../../../../tmp/x", dataset_version="v1_20261204")
    headers = {"Crucible-Type": "crucible.v1.TrainRequested"}
    assert event_invalid_ids(headers, evil.SerializeToString()) == ["job_id: '../../../../tmp/x'"]
    fine = events_pb2.TrainRequested(job_id="train-v1_20261204", dataset_version="v1_20261204")
    assert event_invalid_ids(headers, fine.SerializeToString()) == []
    assert event_invalid_ids(None, evil.SerializeToString()) == []  # untyped: the handler judges it
