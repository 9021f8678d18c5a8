"""The extractor against a real database (the demo SQLite and PostgreSQL) and a real
nats-server: every source row is accounted for, watermarks make runs incremental,
subject tokens are stable, and a missing table or column is reported, not fatal."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from crucible.common import subjects
from crucible.common.bus import H_REASON, Bus
from crucible.common.config import Settings, load_policy
from crucible.common.embedded import EmbeddedNats
from crucible.common.runtime import Runtime
from crucible.common.serving import consume_events
from crucible.extractor.demo.generator import write_demo
from crucible.extractor.extraction import extract
from crucible.extractor.mapping import record_id
from crucible.extractor.service import SPEC, extract_hook
from crucible.extractor.source import SOURCE_TABLES
from crucible.extractor.watermarks import reset_watermarks
from crucible.v1 import events_pb2, records_pb2

USERS = 40
# Only the common policy: these tests need no other service's section.
POLICY = load_policy(None, section_models={})
DAYS = 30


@pytest.fixture(params=["sqlite", "postgres"])
def source_url(request, tmp_path) -> Iterator[str]:
    """A freshly generated demo database: a SQLite file, or a private schema in PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "demo.db"
        write_demo(path, USERS, 11)
        yield f"sqlite:///{path}"
        return
    url, _ = request.getfixturevalue("pg_schema")("ext")
    write_demo(url, USERS, 11)
    yield url


@pytest.fixture
def rt(crucible_home) -> Iterator[Runtime]:
    settings = Settings(home=crucible_home, subject_secret="s3cret-" + uuid.uuid4().hex, log_json=False)
    runtime = Runtime.create(settings, policy=POLICY)
    yield runtime
    runtime.registry.dispose()


def rows_in_window(url: str, since: dt.datetime) -> dict[str, int]:
    engine = sa.create_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in SOURCE_TABLES:
            t = sa.Table(table, sa.MetaData(), autoload_with=engine)
            bound = since.replace(tzinfo=None) if engine.dialect.name == "sqlite" else since
            out[table] = conn.execute(sa.select(sa.func.count()).where(t.c.created_at >= bound)).scalar_one()
    engine.dispose()
    return out


async def drain(bus: Bus, subject: str, stream: str) -> list:
    durable = f"t{uuid.uuid4().hex[:8]}"
    sub = await bus.js.pull_subscribe(subject, durable=durable, stream=stream)
    out = []
    while True:
        try:
            msgs = await sub.fetch(256, timeout=1.0)
        except Exception:
            break
        for m in msgs:
            out.append(m)
            await m.ack_sync()
    await sub.unsubscribe()
    await bus.js.delete_consumer(stream, durable)  # a work-queue stream allows one consumer per subject
    return out


def records_of(msgs) -> list[records_pb2.Record]:
    return [r for m in msgs for r in records_pb2.RecordBatch.FromString(m.data).records]


def test_every_source_row_is_accounted_for(source_url, rt, embedded_nats):
    orphan = insert_orphan_checkin(source_url)  # a row whose author deleted their account

    async def main():
        bus = await Bus.connect(embedded_nats.url, rt.policy.bus)
        try:
            now = dt.datetime.now(dt.UTC)
            report = await extract(rt, bus, days=DAYS, min_quality=7.0, source=source_url, now=now)
            published = records_of(await drain(bus, subjects.RAW, subjects.STREAM_RAW))
            dlq = await drain(bus, subjects.dlq("extractor"), subjects.STREAM_DLQ)
            return now, report, published, dlq
        finally:
            await bus.close()

    now, report, published, dlq = asyncio.run(main())
    expected = rows_in_window(source_url, now - dt.timedelta(days=DAYS))
    data = report.to_dict()
    assert data["errors"] == {}
    for table, n in expected.items():
        t = report.tables[table]
        assert t.in_window == n
        assert t.extracted + sum(t.failed.values()) == n, table
        assert t.skipped_by_watermark == 0
    assert sum(expected.values()) > 500
    # What the report says was extracted is exactly what is on the bus, once each.
    ids = [r.record_id for r in published]
    assert len(ids) == len(set(ids)) == data["extracted"]
    assert all(
        r.source.table in SOURCE_TABLES and r.record_id == record_id(r.source.table, r.source.key) for r in published
    )
    assert {r.kind for r in published} == set(range(1, 6))
    # Each failed row has a content-free DLQ entry with its reason.
    assert len(dlq) == sum(data["failed"].values()) > 0
    reasons = {m.headers[H_REASON] for m in dlq}
    assert reasons <= {"unknown_user", "invalid_rating", "bad_json"}  # what the demo plants
    orphan_ref = next(
        records_pb2.Record.FromString(m.data) for m in dlq if records_pb2.Record.FromString(m.data).source.key == orphan
    )
    assert orphan_ref.source.table == "checkins" and orphan_ref.record_id == record_id("checkins", orphan)
    for m in dlq:
        ref = records_pb2.Record.FromString(m.data)
        assert ref.source.key and len(ref.turns) == 0 and not ref.private_context
    # Records carry the private names for the scrubber.
    assert all("known_entities" in r.private_context for r in published if r.source.table != "feedback")


def test_second_run_extracts_only_new_rows(source_url, rt, embedded_nats):
    async def main():
        bus = await Bus.connect(embedded_nats.url, rt.policy.bus)
        try:
            first = await extract(rt, bus, days=DAYS, source=source_url)
            second = await extract(rt, bus, days=DAYS, source=source_url)
            await drain(bus, subjects.RAW, subjects.STREAM_RAW)
            new_ids = insert_new_rows(source_url)
            third = await extract(rt, bus, days=DAYS, source=source_url)
            published = records_of(await drain(bus, subjects.RAW, subjects.STREAM_RAW))
            return first, second, third, published, new_ids
        finally:
            await bus.close()

    first, second, third, published, new_ids = asyncio.run(main())
    assert first.to_dict()["extracted"] > 0
    assert second.to_dict()["rows"] == 0 and second.to_dict()["extracted"] == 0
    for table, t in second.tables.items():
        assert t.skipped_by_watermark == first.tables[table].in_window
    assert third.to_dict()["extracted"] == len(new_ids) == 2
    assert {(r.source.table, r.source.key) for r in published} == set(new_ids)
    conv = next(r for r in published if r.source.table == "conversations")
    assert [t.text for t in conv.turns] == ["Is it normal to fight about chores?", "Very common. Let's look at it."]


def insert_orphan_checkin(url: str) -> str:
    engine = sa.create_engine(url)
    checkins = sa.Table("checkins", sa.MetaData(), autoload_with=engine)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    if engine.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    with engine.begin() as conn:
        key = conn.execute(sa.select(sa.func.max(checkins.c.id))).scalar_one() + 1
        conn.execute(
            checkins.insert().values(id=key, user_id=10**9, reflection="Orphaned.", ai_reply="Hi.", created_at=now)
        )
    engine.dispose()
    return str(key)


def insert_new_rows(url: str) -> list[tuple[str, str]]:
    engine = sa.create_engine(url)
    md = sa.MetaData()
    checkins = sa.Table("checkins", md, autoload_with=engine)
    conversations = sa.Table("conversations", md, autoload_with=engine)
    messages = sa.Table("messages", md, autoload_with=engine)
    users = sa.Table("users", md, autoload_with=engine)
    now = dt.datetime.now(dt.UTC)
    if engine.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    with engine.begin() as conn:
        uid = conn.execute(sa.select(sa.func.min(users.c.id))).scalar_one()
        cid = conn.execute(sa.select(sa.func.max(checkins.c.id))).scalar_one() + 1
        vid = conn.execute(sa.select(sa.func.max(conversations.c.id))).scalar_one() + 1
        mid = conn.execute(sa.select(sa.func.max(messages.c.id))).scalar_one() + 1
        conn.execute(
            checkins.insert().values(
                id=cid,
                user_id=uid,
                mood="good",
                connection_score=8,
                reflection="A new good day.",
                ai_reply="Lovely!",
                created_at=now,
            )
        )
        conn.execute(conversations.insert().values(id=vid, user_id=uid, topic="household", created_at=now))
        conn.execute(
            messages.insert(),
            [
                {
                    "id": mid,
                    "conversation_id": vid,
                    "seq": 0,
                    "role": "user",
                    "content": "Is it normal to fight about chores?",
                    "created_at": now,
                },
                {
                    "id": mid + 1,
                    "conversation_id": vid,
                    "seq": 1,
                    "role": "assistant",
                    "content": "Very common. Let's look at it.",
                    "created_at": now,
                },
            ],
        )
    engine.dispose()
    return [("checkins", str(cid)), ("conversations", str(vid))]


def test_subject_tokens_are_stable_and_never_a_user_id(tmp_path, rt, embedded_nats):
    path = tmp_path / "demo.db"
    write_demo(path, USERS, 3)
    url = f"sqlite:///{path}"

    async def once(nats_url):
        bus = await Bus.connect(nats_url, rt.policy.bus)
        try:
            await extract(rt, bus, days=DAYS, source=url, tables=["checkins", "conversations"])
            return records_of(await drain(bus, subjects.RAW, subjects.STREAM_RAW))
        finally:
            await bus.close()

    first = asyncio.run(once(embedded_nats.url))
    assert reset_watermarks(rt.registry, sa.engine.make_url(url).render_as_string()) == 2
    # A second server: on the first, JetStream would drop the re-published batches as duplicates.
    with EmbeddedNats() as other:
        second = asyncio.run(once(other.url))
    assert len(first) > 100
    assert {r.record_id: r.subject_token for r in first} == {r.record_id: r.subject_token for r in second}
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        user_ids = {str(i) for i in conn.execute(sa.text("SELECT id FROM users")).scalars()}
        authors = dict(conn.execute(sa.text("SELECT id, user_id FROM checkins")).all())
    engine.dispose()
    tokens = {r.subject_token for r in first}
    assert not tokens & user_ids and all(len(t) == 64 for t in tokens)
    # One token per person: check-ins of the same user share it, different users do not.
    by_user: dict[int, set[str]] = {}
    for r in first:
        if r.source.table == "checkins":
            by_user.setdefault(authors[int(r.source.key)], set()).add(r.subject_token)
    assert all(len(v) == 1 for v in by_user.values())
    assert len({next(iter(v)) for v in by_user.values()}) == len(by_user)


def test_missing_table_or_column_is_reported_and_the_rest_goes_on(tmp_path, rt, embedded_nats):
    path = tmp_path / "demo.db"
    write_demo(path, USERS, 5)
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE quiz_results"))
        conn.execute(sa.text("ALTER TABLE checkins DROP COLUMN ai_reply"))
    engine.dispose()

    async def main():
        bus = await Bus.connect(embedded_nats.url, rt.policy.bus)
        try:
            return await extract(rt, bus, days=DAYS, source=url)
        finally:
            await bus.close()

    report = asyncio.run(main()).to_dict()
    assert "quiz_results" in report["errors"]["quiz_results"] and "does not exist" in report["errors"]["quiz_results"]
    assert "ai_reply" in report["errors"]["checkins"]
    assert set(report["errors"]) == {"quiz_results", "checkins"}
    for table in ("activities", "conversations", "feedback"):
        assert report["tables"][table]["extracted"] > 0


def test_hook_and_serve_publish_extract_completed(tmp_path, crucible_home, embedded_nats):
    path = tmp_path / "demo.db"
    write_demo(path, 20, 2)
    settings = Settings(home=crucible_home, source_url=f"sqlite:///{path}", subject_secret="x", log_json=False)
    runtime = Runtime.create(settings, policy=POLICY)

    async def main():
        await runtime.connect(embedded_nats.url)
        bus = runtime.require_bus()
        hooked = await extract_hook(runtime, days=DAYS, min_quality=7.0, tables=["checkins"])
        # The production loop: an extract.requested event triggers the same extraction.
        server = asyncio.create_task(consume_events(runtime, SPEC, asyncio.Event()))
        req = events_pb2.ExtractRequested(run_id="evt-run", days=DAYS, min_quality=6.5, tables=["activities"])
        await bus.publish_event(subjects.EXTRACT_REQUESTED, req)
        sub = await bus.js.pull_subscribe(
            subjects.event(subjects.EXTRACT_COMPLETED), durable="t-done", stream=subjects.STREAM_EVENTS
        )
        done: list[events_pb2.ExtractCompleted] = []
        for _ in range(30):
            try:
                for m in await sub.fetch(10, timeout=1.0):
                    done.append(events_pb2.ExtractCompleted.FromString(m.data))
                    await m.ack_sync()
            except Exception:
                pass
            if len(done) >= 2:
                break
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        raw = records_of(await drain(bus, subjects.RAW, subjects.STREAM_RAW))
        await runtime.close()
        return hooked, done, raw

    hooked, done, raw = asyncio.run(main())
    assert hooked["extracted"] > 0 and set(hooked["tables"]) == {"checkins"}
    by_run = {d.run_id: d for d in done}
    assert by_run[runtime.run_id].extracted["checkins"] == hooked["extracted"]
    assert by_run["evt-run"].extracted["activities"] > 0
    evt = [r for r in raw if r.extraction.run_id == "evt-run"]
    assert evt and all(r.source.table == "activities" and r.extraction.min_quality == 6.5 for r in evt)


def test_unacknowledged_publish_leaves_the_watermark_in_place(tmp_path, rt, embedded_nats, monkeypatch):
    path = tmp_path / "demo.db"
    write_demo(path, 20, 4)
    url = f"sqlite:///{path}"
    label = sa.engine.make_url(url).render_as_string()

    async def main():
        bus = await Bus.connect(embedded_nats.url, rt.policy.bus)
        # No PubAck ever comes, so a 1 s wait for it fails exactly as the default 10 s does, sooner.
        monkeypatch.setattr(bus, "publish", functools.partial(bus.publish, timeout=1.0))
        embedded_nats.stop()  # the server goes away: no PubAck will come
        try:
            with pytest.raises(Exception, match="publish"):
                await extract(rt, bus, days=DAYS, source=url, tables=["quiz_results"])
        finally:
            with contextlib.suppress(Exception):  # the connection is already gone
                await bus.nc.close()

    asyncio.run(main())
    from crucible.extractor.watermarks import load_watermark

    assert load_watermark(rt.registry, label, "quiz_results") is None

    async def retry():
        with EmbeddedNats() as other:
            bus = await Bus.connect(other.url, rt.policy.bus)
            try:
                report = await extract(rt, bus, days=DAYS, source=url, tables=["quiz_results"])
                published = records_of(await drain(bus, subjects.RAW, subjects.STREAM_RAW))
            finally:
                await bus.close()
        return report, published

    report, published = asyncio.run(retry())
    t = report.tables["quiz_results"]
    assert t.extracted == len(published) > 0 and t.extracted + sum(t.failed.values()) == t.in_window
    assert load_watermark(rt.registry, label, "quiz_results") is not None


def test_run_summary_lists_the_watermarks(tmp_path, rt, embedded_nats):
    from crucible.extractor.service import SPEC

    path = tmp_path / "demo.db"
    write_demo(path, 10, 1)

    async def main():
        bus = await Bus.connect(embedded_nats.url, rt.policy.bus)
        try:
            return await extract(rt, bus, days=DAYS, source=str(path), tables=["checkins"])
        finally:
            await bus.close()

    report = asyncio.run(main())
    marks = SPEC.run_summary(rt, rt.run_id)["watermarks"]
    assert list(marks) == [f"{report.source}#checkins"] and marks[f"{report.source}#checkins"]["key"]
