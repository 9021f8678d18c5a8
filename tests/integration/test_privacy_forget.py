"""Forget, end to end: a person planted in the demo app database goes through the real pipeline
(extract, scrub, score, dedup, curated store) into a dataset version and a trained model; then
`forget` runs and every store is searched byte by byte (registry file, artifact store, run
folders, the NATS store and every stream message) for their record ids, subject token and
scrubbed text: nothing is found but the receipt (which holds none of them either). Their records
are then redelivered (republished into the stages, and re-extracted from the source) and the
search finds nothing again. Export round-trips, and an opted-out person never reaches RAW."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path

from google.protobuf.json_format import ParseDict
from sqlalchemy import delete, select

from crucible.common import subjects
from crucible.common.config import Settings, load_policy
from crucible.common.embedded import connected_bus
from crucible.common.forgetting import forget_subject_everywhere, subject_record_ids
from crucible.common.pipeline import run_pipeline, wait_drained
from crucible.common.plugins import installed_policy_models
from crucible.common.privacy_keys import subject_token
from crucible.common.registry import CuratedRecord, DatasetMember, ModelVersion, RejectionRow, ReviewItem
from crucible.common.runtime import Runtime
from crucible.common.services import discover_services
from crucible.common.serving import run_services
from crucible.common.store_registry import all_stores
from crucible.common.stream_privacy import stream_messages
from crucible.common.subject_export import export_subject
from crucible.v1 import records_pb2

PHRASE = "zorblaxian pickleball"  # survives scrubbing (not personal), unique to the planted person
PII = {"first_name": "Quillonette", "last_name": "Vexhammerly", "email": "quillonette.vexhammerly@example.org"}
FAST_TRAIN = {"max_steps": 2, "checkpoint_every_steps": 2, "progress_every_steps": 1, "max_seq_length": 512}


def _runtime(home: Path, secret: str) -> Runtime:
    overrides = {f"trainer.{k}": v for k, v in FAST_TRAIN.items()}
    overrides["privacy.forget.event_wait_seconds"] = 10.0
    overrides["scorer.threshold"] = 0.0  # keep every record: the person must reach a dataset version
    policy = load_policy(None, installed_policy_models(), overrides=overrides)
    return Runtime.create(Settings(home=home, subject_secret=secret, log_json=False), policy=policy)


def _plant(db: Path) -> str:
    """The most active user gets distinctive PII and a distinctive phrase in every message."""
    con = sqlite3.connect(db)
    (user_id,) = con.execute(
        "SELECT user_id FROM conversations GROUP BY user_id ORDER BY COUNT(*) DESC, user_id LIMIT 1"
    ).fetchone()
    con.execute(
        "UPDATE users SET first_name = ?, last_name = ?, email = ? WHERE id = ?",
        (PII["first_name"], PII["last_name"], PII["email"], user_id),
    )
    con.execute(
        "UPDATE messages SET content = content || ' I keep thinking about our " + PHRASE + " league.' "
        "WHERE role = 'user' AND conversation_id IN (SELECT id FROM conversations WHERE user_id = ?)",
        (user_id,),
    )
    for table, column in (("checkins", "reflection"), ("feedback", "comment"), ("activities", "feedback_text")):
        cols = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
        if column in cols:
            con.execute(
                f"UPDATE {table} SET {column} = COALESCE({column}, '') || ' {PHRASE} again.' WHERE user_id = ?",
                (user_id,),
            )
    con.commit()
    con.close()
    return str(user_id)


def _their_blobs(rt: Runtime, token: str) -> list[bytes]:
    with rt.registry.session() as s:
        blobs = list(s.scalars(select(CuratedRecord.record).where(CuratedRecord.subject_token == token)))
        blobs += list(s.scalars(select(ReviewItem.record).where(ReviewItem.subject_token == token)))
        blobs += [b for b in s.scalars(select(RejectionRow.record).where(RejectionRow.subject_token == token)) if b]
    return blobs


def _needles(token: str, record_ids: set[str], blobs: list[bytes]) -> set[bytes]:
    texts = {
        t.text.encode()
        for b in blobs
        for t in records_pb2.Record.FromString(b).turns
        if PHRASE in t.text and len(t.text) >= 30
    }
    return {token.encode(), PHRASE.encode(), *(r.encode() for r in record_ids), *texts}


async def _stream_hits(rt: Runtime, needles: set[bytes]) -> list[str]:
    hits = []
    for stream in (subjects.STREAM_RAW, subjects.STREAM_RECORDS, subjects.STREAM_DLQ, subjects.STREAM_EVENTS):
        async for msg in stream_messages(rt.require_bus(), stream):
            blob = (msg.data or b"") + json.dumps(msg.headers or {}).encode()
            hits += [f"{stream}#{msg.seq}: {n[:40]!r}" for n in needles if n in blob]
    return hits


def _file_hits(home: Path, needles: set[bytes]) -> list[str]:
    # NumPy keeps strings as UTF-32 (the dedup index's ids in its .npz snapshot): search both forms.
    forms = {n: (n, n.decode().encode("utf-32-le")) for n in needles}
    hits = []
    for path in sorted(home.rglob("*")):
        if not path.is_file() or path.name == "demo.db":  # the app's own database is not Crucible's
            continue
        data = path.read_bytes()
        hits += [f"{path.relative_to(home)}: {n[:40]!r}" for n, fs in forms.items() if any(f in data for f in fs)]
    return hits


def _data_plane() -> list:
    return [s for s in discover_services().values() if s.build_stage is not None and s.consumes]


async def _redeliver(rt: Runtime, blobs: list[bytes]) -> None:
    """Their records come back: republished into the stages (as a redelivery from before the
    forget would) and re-extracted from the source with the watermarks reset."""
    from crucible.common.registry import Watermark
    from crucible.extractor.service import extract_hook

    stop = asyncio.Event()
    running = await run_services(rt, _data_plane(), stop)
    try:
        records = [records_pb2.Record.FromString(b) for b in blobs]
        for subject in (subjects.SCRUBBED, subjects.SCORED, subjects.CURATED):
            batch = records_pb2.RecordBatch(records=records).SerializeToString()
            await rt.require_bus().publish(subject, batch, msg_id=f"redelivery:{subject}")
        with rt.registry.session() as s:
            s.execute(delete(Watermark))
        await extract_hook(rt, days=3650, min_quality=0.1)
        await wait_drained(rt, running.workers)
    finally:
        stop.set()
        await asyncio.gather(*running.tasks, return_exceptions=True)


def test_forget_leaves_nothing_anywhere_even_after_redelivery(
    tmp_path: Path, trained_scorer_models: Path, tiny_base_model: Path
) -> None:
    home = tmp_path / "home"
    rt = _runtime(home, "privacy-test-secret")
    # The session's tiny Llama where "tiny-base" resolves, so the trainer does not build its own:
    # what is forgotten is the person's data, and the base model holds none of it.
    shutil.copytree(tiny_base_model, home / "models" / "tiny-base")
    # Where the scorer stage looks (a hard-coded older key made every run train the models again).
    shutil.copytree(trained_scorer_models, rt.artifacts.local_path(rt.policy.section("scorer").model_key))
    from crucible.extractor.service import demo_db

    demo_db(home / "demo.db", 30, 7)
    user_id = _plant(home / "demo.db")
    token = subject_token(rt.subject_secret(), user_id)

    summary = asyncio.run(run_pipeline(rt, users=30, days=3650, min_quality=0.1, steps=["dataset", "trainer"]))
    assert summary["status"] == "succeeded", summary.get("control_plane")
    model = summary["control_plane"]["trainer"]["model_name"]
    version = summary["control_plane"]["dataset"]["dataset_version"]
    with rt.registry.session() as s:
        assert s.scalars(select(DatasetMember).where(DatasetMember.subject_token == token)).all()
        assert s.get(ModelVersion, model).dataset_version == version
    blobs = _their_blobs(rt, token)
    record_ids = asyncio.run(subject_record_ids(rt, token, all_stores()))
    needles = _needles(token, record_ids, blobs)
    assert len(record_ids) >= 5 and len(needles) >= len(record_ids) + 3
    before = _file_hits(home, needles)  # the search finds them before forget (or it would prove nothing)
    for place in ("registry.db", "artifacts/datasets/", "artifacts/dedup/index/", "artifacts/dedup/runs/"):
        assert any(h.startswith(place) for h in before), place
    exported = json.loads(json.dumps(asyncio.run(export_subject(rt, token))))
    curated = exported["stores"]["dataset"]["curated_records"]
    assert curated and {r["record_id"] for r in curated} <= record_ids
    with rt.registry.session() as s:  # round trip: every exported record parses back into the stored one
        for row in curated:
            stored = s.get(CuratedRecord, row["record_id"]).record
            assert ParseDict(row["record"], records_pb2.Record()) == records_pb2.Record.FromString(stored)
    assert [v["version"] for v in exported["stores"]["dataset"]["dataset_versions"]] == [version]
    assert [m["name"] for m in exported["stores"]["dataset"]["models"]] == [model]
    assert PHRASE in json.dumps(exported)  # their text, as stored
    assert not any(v.encode() in json.dumps(exported).encode() for v in PII.values())  # scrubbed before storage

    async def forget_and_search() -> tuple[dict, list[str]]:
        # As in production, the services run meanwhile: their `subject.forget` consumers ack the event.
        async with connected_bus(rt):
            stop = asyncio.Event()
            running = await run_services(rt, _data_plane(), stop)
            try:
                receipt = await forget_subject_everywhere(rt, token, requested_by="test")
            finally:
                stop.set()
                await asyncio.gather(*running.tasks, return_exceptions=True)
            return receipt, await _stream_hits(rt, needles)

    receipt, stream_hits = asyncio.run(forget_and_search())
    rt.registry.dispose()
    assert stream_hits == []
    file_hits = _file_hits(home, needles)
    assert file_hits == [], "\n".join(file_hits)
    assert not any(n.decode(errors="ignore") in json.dumps(receipt) for n in needles)
    stores = receipt["stores"]
    assert stores["dataset"]["redacted_versions"] == [version] and stores["dataset"]["marked_models"] == [model]
    assert stores["bus"]["forget_events_pending"] == 0
    with rt.registry.session() as s:
        assert s.get(ModelVersion, model).contains_forgotten_subject

    async def redeliver_and_search() -> list[str]:
        async with connected_bus(rt):
            await _redeliver(rt, blobs)
            return await _stream_hits(rt, needles)

    assert asyncio.run(redeliver_and_search()) == []
    rt.registry.dispose()
    assert _file_hits(home, needles) == []
