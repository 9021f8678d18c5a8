"""The bus streams as a subject store: forget deletes the DLQ and EVENTS messages that name the
subject (its token or one of its record ids, anywhere in the payload or headers), retention
deletes messages older than policy, and `subject.forget` events are deleted once every consumer
of them has acknowledged them (they carry the token).

RAW and RECORDS are work queues: a message there is gone once its stage acks it, and a stage
worker drops records of excluded subjects (`excluded_subjects`) before processing, so forget
leaves them to drain; retention still removes any message older than `raw_days`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from nats.js.errors import NotFoundError

from crucible.common import subjects
from crucible.common.subject_stores import ForgetRequest, RetentionRequest, SubjectStore

if TYPE_CHECKING:
    from crucible.common.bus import Bus
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)

SEARCHED_STREAMS = (subjects.STREAM_DLQ, subjects.STREAM_EVENTS)
FORGET_SUBJECT = subjects.event(subjects.SUBJECT_FORGET)


async def stream_messages(bus: Bus, stream: str, subject: str = ">") -> AsyncIterator[Any]:
    """Every message of a stream in sequence order (deleted ones skipped), as `RawStreamMsg`."""
    try:
        info = await bus.js.stream_info(stream)
    except NotFoundError:
        return
    seq, last = int(info.state.first_seq or 1), int(info.state.last_seq or 0)
    while seq <= last:
        try:
            msg = await bus.js.get_msg(stream, seq=seq, subject=subject, next=True)
        except NotFoundError:
            return
        if msg.seq is None or msg.seq > last:
            return
        yield msg
        seq = int(msg.seq) + 1


def message_mentions(msg: Any, needles: Iterable[bytes]) -> bool:
    """Whether any needle occurs in the message's payload or header values (a byte search)."""
    haystacks = [msg.data or b""]
    haystacks += [str(v).encode() for v in (msg.headers or {}).values()]
    return any(n in h for h in haystacks for n in needles)


async def _forget(runtime: Runtime, request: ForgetRequest) -> dict[str, Any]:
    bus = runtime.bus
    if bus is None:
        return {"skipped": "no bus connected (--no-publish)"}
    needles = [request.subject_token.encode()] + [r.encode() for r in sorted(request.record_ids)]
    out: dict[str, Any] = {}
    for stream in SEARCHED_STREAMS:
        removed = 0
        async for msg in stream_messages(bus, stream):
            if message_mentions(msg, needles):
                await bus.js.delete_msg(stream, int(msg.seq))
                removed += 1
        out[f"{stream.lower()}_messages"] = removed
    return out


async def handled_forget_events(bus: Bus) -> tuple[list[int], int]:
    """(sequences of `subject.forget` events every consumer has acknowledged, events still pending)."""
    floors = []
    for info in await bus.js.consumers_info(subjects.STREAM_EVENTS):
        config = info.config
        filters = [config.filter_subject] if config.filter_subject else list(config.filter_subjects or [])
        if not filters or any(f in (FORGET_SUBJECT, subjects.event(">"), ">") for f in filters):
            floors.append(int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0)
    floor = min(floors) if floors else None
    handled, pending = [], 0
    async for msg in stream_messages(bus, subjects.STREAM_EVENTS, FORGET_SUBJECT):
        if floor is None or int(msg.seq) <= floor:
            handled.append(int(msg.seq))
        else:
            pending += 1
    return handled, pending


async def delete_handled_forget_events(bus: Bus, *, wait_seconds: float = 0.0, dry_run: bool = False) -> dict[str, int]:
    """Delete `subject.forget` events once every consumer acknowledged them, waiting up to
    `wait_seconds` for the slow ones. What is still pending is left for the next retention run."""
    deadline = time.monotonic() + wait_seconds
    while True:
        handled, pending = await handled_forget_events(bus)
        if not pending or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.2)
    if not dry_run:
        for seq in handled:
            await bus.js.delete_msg(subjects.STREAM_EVENTS, seq)
    return {"forget_events_deleted": len(handled), "forget_events_pending": pending}


async def delete_older_than(bus: Bus, stream: str, cutoff: dt.datetime, *, dry_run: bool) -> int:
    """Delete (or count) the messages stored before `cutoff` (streams are in time order)."""
    n = 0
    async for msg in stream_messages(bus, stream):
        stamp = msg.time
        if stamp is None or stamp.astimezone(dt.UTC) >= cutoff:
            break
        n += 1
        if not dry_run:
            await bus.js.delete_msg(stream, int(msg.seq))
    return n


async def _retention(runtime: Runtime, request: RetentionRequest) -> dict[str, Any]:
    bus = runtime.bus
    if bus is None:
        return {"skipped": "no bus connected"}
    p = request.policy
    out: dict[str, Any] = {}
    for stream, days in (
        (subjects.STREAM_RAW, p.raw_days),
        (subjects.STREAM_RECORDS, p.raw_days),
        (subjects.STREAM_DLQ, p.dlq_days),
        (subjects.STREAM_EVENTS, p.events_days),
    ):
        out[f"{stream.lower()}_messages"] = await delete_older_than(
            bus, stream, request.cutoff(days), dry_run=request.dry_run
        )
    out.update(await delete_handled_forget_events(bus, dry_run=request.dry_run))
    return out


BUS_STORE = SubjectStore(name="bus", order=80, forget=_forget, retention=_retention)
