"""A source row whose record is larger than the server accepts (issue 25, item 8): it goes to
crucible.dlq.extractor as a content-free reference, the rest of the run is published, and the
watermark moves, so the next run does not fail on it again."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from crucible.common import subjects
from crucible.common.bus import H_REASON, H_RECORD_ID, Bus
from crucible.common.config import Settings, load_policy
from crucible.common.runtime import Runtime
from crucible.extractor.demo.generator import write_demo
from crucible.extractor.extraction import extract
from crucible.extractor.mapping import record_id
from crucible.extractor.watermarks import load_watermark
from crucible.v1 import records_pb2

DAYS = 30
SECRET_WORD = "Zanzibarquux"


@pytest.fixture
def rt(crucible_home) -> Iterator[Runtime]:
    settings = Settings(home=crucible_home, subject_secret="s3cret-" + uuid.uuid4().hex, log_json=False)
    runtime = Runtime.create(settings, policy=load_policy(None, section_models={}))
    yield runtime
    runtime.registry.dispose()


def add_conversation(url: str, text: str, minutes_ago: int) -> str:
    engine = sa.create_engine(url)
    md = sa.MetaData()
    conversations = sa.Table("conversations", md, autoload_with=engine)
    messages = sa.Table("messages", md, autoload_with=engine)
    users = sa.Table("users", md, autoload_with=engine)
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)).replace(tzinfo=None)
    with engine.begin() as conn:
        uid = conn.execute(sa.select(sa.func.min(users.c.id))).scalar_one()
        vid = conn.execute(sa.select(sa.func.max(conversations.c.id))).scalar_one() + 1
        mid = conn.execute(sa.select(sa.func.max(messages.c.id))).scalar_one() + 1
        conn.execute(conversations.insert().values(id=vid, user_id=uid, topic="household", created_at=at))
        conn.execute(
            messages.insert(),
            [
                {"id": mid, "conversation_id": vid, "seq": 0, "role": "user", "content": text, "created_at": at},
                {"id": mid + 1, "conversation_id": vid, "seq": 1, "role": "assistant", "content": "I see.",
                 "created_at": at},
            ],
        )  # fmt: skip
    engine.dispose()
    return str(vid)


async def drain(bus: Bus, subject: str, stream: str) -> list:
    durable = f"t{uuid.uuid4().hex[:8]}"
    sub = await bus.js.pull_subscribe(subject, durable=durable, stream=stream)
    out = []
    while True:
        try:
            msgs = await sub.fetch(256, timeout=1.0)
        except Exception:  # a fetch timeout: nothing more
            break
        for m in msgs:
            out.append(m)
            await m.ack_sync()
    await sub.unsubscribe()
    await bus.js.delete_consumer(stream, durable)
    return out


def test_an_oversized_row_is_dead_lettered_and_the_run_goes_on(tmp_path, rt, embedded_nats):
    path = tmp_path / "demo.db"
    write_demo(path, 10, 3)
    url = f"sqlite:///{path}"
    label = sa.engine.make_url(url).render_as_string()

    async def main():
        bus = await Bus.connect(embedded_nats.url, rt.policy.bus)
        try:
            huge = (SECRET_WORD + " ") * (bus.max_payload // len(SECRET_WORD) + 10)
            big = add_conversation(url, huge, minutes_ago=30)
            small = add_conversation(url, "A small one after it.", minutes_ago=10)
            first = await extract(rt, bus, days=DAYS, source=url, tables=["conversations"])
            published = [
                r
                for m in await drain(bus, subjects.RAW, subjects.STREAM_RAW)
                for r in records_pb2.RecordBatch.FromString(m.data).records
            ]
            dlq = await drain(bus, subjects.dlq("extractor"), subjects.STREAM_DLQ)
            second = await extract(rt, bus, days=DAYS, source=url, tables=["conversations"])
            return big, small, first, published, dlq, second
        finally:
            await bus.close()

    big, small, first, published, dlq, second = asyncio.run(main())
    t = first.tables["conversations"]
    assert t.error is None and t.failed["oversized"] == 1
    assert t.extracted == len(published) == t.in_window - 1
    keys = {r.source.key for r in published}
    assert small in keys and big not in keys
    (entry,) = [m for m in dlq if m.headers[H_REASON] == "oversized"]
    assert entry.headers[H_RECORD_ID] == record_id("conversations", big)
    assert SECRET_WORD.encode() not in entry.data and len(entry.data) < 1024
    assert load_watermark(rt.registry, label, "conversations") is not None
    assert second.to_dict()["rows"] == 0, "the watermark did not move past the oversized row"
