"""Reading what a stage published, for integration tests: every message on a subject, acked."""

from __future__ import annotations

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from crucible.common.bus import Bus
from crucible.v1 import records_pb2


async def drain_messages(bus: Bus, subject: str, stream: str, durable: str) -> list[Msg]:
    """Every message on `subject` (through a durable pull consumer named `durable`), acked, in order;
    returns when a fetch finds nothing for a second."""
    cfg = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, filter_subject=subject)
    sub = await bus.js.pull_subscribe(subject, durable=durable, stream=stream, config=cfg)
    out: list[Msg] = []
    while True:
        try:
            msgs = await sub.fetch(64, timeout=1.0)
        except Exception:  # a fetch timeout: nothing more
            break
        for m in msgs:
            out.append(m)
            await m.ack_sync()
    return out


def batch_records(msg: Msg) -> list[records_pb2.Record]:
    return list(records_pb2.RecordBatch.FromString(msg.data).records)
