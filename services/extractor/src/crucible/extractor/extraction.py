"""The extraction shell: source database -> Records -> RecordBatch messages on crucible.records.raw.

Per table: check the schema (a missing table or column is an error for that table only),
count the rows in the window, read the rows after the table's watermark in (created_at, id)
order, map them (the pure core), publish them in RecordBatches of
`policy.bus.records_per_message` (and under the server's max_payload) and wait for every PubAck,
then move the watermark. A row that cannot be mapped, or whose record alone is over max_payload,
goes to `crucible.dlq.extractor` as a content-free reference (source table and key) with the
reason in headers, and is counted; it never stops the run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crucible.common import subjects
from crucible.common.batching import chunk_by_size
from crucible.common.bus import H_DELIVERIES, H_DETAIL, H_REASON, H_RECORD_ID, H_SOURCE_SUBJECT, H_STAGE
from crucible.common.dead_letters import content_free_reference
from crucible.common.excluded_subjects import excluded_digests
from crucible.common.tracing import inject_trace_headers, tracer
from crucible.extractor import __version__
from crucible.extractor.mapping import STAGE, ExtractionContext, MappedRows, MappingFailure, as_utc, map_rows
from crucible.extractor.source import SOURCE_TABLES, USERS, SourceDatabase, SourceSchemaError, assemble, target_url
from crucible.extractor.watermarks import Cursor, load_watermark, save_watermark
from crucible.v1 import records_pb2

if TYPE_CHECKING:
    from crucible.common.bus import Bus
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)

DEMO_DB = "demo.db"  # in CRUCIBLE_HOME: the source when none is configured (`service.ensure_demo_source`)
# Rows read, mapped and published per step; the watermark moves after each step.
MESSAGES_PER_STEP = 8
# A record whose encoding alone is over the server's max_payload (DLQ reason and failure count).
OVERSIZED = "oversized"
# Room left under max_payload for a message's headers (msg id, trace context).
HEADER_ALLOWANCE = 4096
# One message to publish: subject, payload, Nats-Msg-Id, headers.
Outgoing = tuple[str, bytes, str | None, Mapping[str, str]]


@dataclass
class TableReport:
    table: str
    in_window: int = 0
    extracted: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    skipped_by_watermark: int = 0
    excluded: int = 0  # rows of forgotten or opted-out subjects: never extracted
    messages: int = 0
    error: str | None = None

    @property
    def rows(self) -> int:
        """Rows read this run (in the window, after the watermark)."""
        return self.extracted + sum(self.failed.values()) + self.excluded

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "in_window": self.in_window,
            "rows": self.rows,
            "extracted": self.extracted,
            "failed": dict(sorted(self.failed.items())),
            "skipped_by_watermark": self.skipped_by_watermark,
            "excluded_subjects": self.excluded,
            "messages": self.messages,
        }
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class ExtractionReport:
    run_id: str
    source: str
    days: int
    min_quality: float
    since: dt.datetime
    tables: dict[str, TableReport] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        failed: Counter[str] = Counter()
        for t in self.tables.values():
            failed.update(t.failed)
        errors = {name: t.error for name, t in self.tables.items() if t.error}
        return {
            "run_id": self.run_id,
            "source": self.source,
            "days": self.days,
            "min_quality": self.min_quality,
            "since": self.since.isoformat(),
            "rows": sum(t.rows for t in self.tables.values()),
            "extracted": sum(t.extracted for t in self.tables.values()),
            "failed": dict(sorted(failed.items())),
            "skipped_by_watermark": sum(t.skipped_by_watermark for t in self.tables.values()),
            "excluded_subjects": sum(t.excluded for t in self.tables.values()),
            "messages": sum(t.messages for t in self.tables.values()),
            "errors": errors,
            "tables": {name: t.to_dict() for name, t in self.tables.items()},
            "seconds": round(self.seconds, 3),
        }


def resolve_source_url(runtime: Runtime, source: str | None = None) -> str:
    """`source` (URL or SQLite path), else CRUCIBLE_SOURCE_URL, else the demo database in
    CRUCIBLE_HOME (which the service shell generates on first use: extraction knows nothing
    of the demo)."""
    if source:
        return target_url(source)
    if runtime.settings.source_url:
        return target_url(runtime.settings.source_url)
    path = Path(runtime.settings.home) / DEMO_DB
    if not path.exists():
        raise FileNotFoundError(
            f"no source configured (CRUCIBLE_SOURCE_URL) and no demo database at {path}: "
            f"run `crucible demo-db --out {path}` or set a source"
        )
    return target_url(path)


def batch_msg_id(records: Sequence[records_pb2.Record]) -> str:
    """Derived from the record ids, so republishing the same batch is dropped by JetStream."""
    digest = hashlib.sha256("\n".join(r.record_id for r in records).encode()).hexdigest()[:40]
    return f"{STAGE}:{digest}"


def record_batches(
    records: Sequence[records_pb2.Record], per_message: int, max_bytes: int | None = None
) -> tuple[list[records_pb2.RecordBatch], list[records_pb2.Record]]:
    """RecordBatches of at most `per_message` records and `max_bytes` encoded bytes; and the
    records that alone exceed `max_bytes` (they can never be published)."""
    if max_bytes is None:
        groups, oversized = [list(records)], []
    else:
        groups, oversized = chunk_by_size(records, max_bytes)
    out = [
        records_pb2.RecordBatch(records=group[i : i + per_message])
        for group in groups
        for i in range(0, len(group), per_message)
    ]
    return out, oversized


def failure_reference(failure: MappingFailure) -> records_pb2.Record:
    """What goes to the DLQ for a failed row: where to find it, never its content."""
    from crucible.extractor.mapping import record_id

    return records_pb2.Record(
        record_id=record_id(failure.table, failure.key) if failure.key else "",
        source=records_pb2.Source(table=failure.table, key=failure.key),
        kind=failure.kind,  # type: ignore[arg-type]
    )


def _dead_letter(failure_id: str, reason: str, detail: str, ref: records_pb2.Record) -> Outgoing:
    headers = {
        H_REASON: reason,
        H_DETAIL: detail[:1024].replace("\n", " "),
        H_STAGE: STAGE,
        H_DELIVERIES: "0",
        H_SOURCE_SUBJECT: subjects.RAW,
        H_RECORD_ID: ref.record_id,
    }
    return (subjects.dlq(STAGE), ref.SerializeToString(), f"{failure_id}:{STAGE}:{reason}", headers)


async def _publish(bus: Bus, mapped: MappedRows, per_message: int, source_label: str) -> tuple[int, int]:
    """Publish a step's RecordBatches and its failures' DLQ references concurrently; return only
    when JetStream has acknowledged every one (the caller moves the watermark after this).
    Batches are cut to the server's max_payload; a record larger than that goes to the DLQ as a
    reference (a message JetStream refuses would stop the watermark for good). Returns
    (messages, records too large)."""
    items: list[Outgoing] = []
    batches, oversized = record_batches(mapped.records, per_message, bus.max_payload - HEADER_ALLOWANCE)
    for batch in batches:
        headers = inject_trace_headers({H_STAGE: STAGE, "Crucible-Records": str(len(batch.records))})
        items.append((subjects.RAW, batch.SerializeToString(), batch_msg_id(batch.records), headers))
    messages = len(items)
    for failure in mapped.failures:
        ref = failure_reference(failure)
        ref.source.database = source_label
        items.append(_dead_letter(ref.record_id, failure.reason, failure.detail, ref))
    for record in oversized:
        detail = f"{record.ByteSize()} bytes encoded; the server accepts {bus.max_payload} per message"
        items.append(_dead_letter(record.record_id, OVERSIZED, detail, content_free_reference(record)))
    await bus.publish_many(items)
    return messages, len(oversized)


async def extract_table(
    runtime: Runtime,
    bus: Bus,
    db: SourceDatabase,
    table: str,
    since: dt.datetime,
    ctx: ExtractionContext,
) -> TableReport:
    report = TableReport(table)
    per_message = runtime.policy.bus.records_per_message
    try:
        db.check(USERS)  # every mapping needs its author: without users, no table can be mapped
        checked = db.check(SOURCE_TABLES[table])
        mark = load_watermark(runtime.registry, db.label, table)
        report.in_window = await asyncio.to_thread(db.count, checked, since)
        if mark is not None:
            after = await asyncio.to_thread(db.count, checked, since, mark)
            report.skipped_by_watermark = report.in_window - after
        cursor: Cursor | None = mark
        step = per_message * MESSAGES_PER_STEP
        # One step in flight: step N's PubAcks are awaited while step N+1 is read and mapped.
        in_flight: tuple[asyncio.Task[tuple[int, int]], MappedRows, Cursor] | None = None

        async def settle() -> None:
            task, mapped, done_cursor = in_flight  # type: ignore[misc]
            messages, oversized = await task
            report.messages += messages
            report.extracted += len(mapped.records) - oversized
            report.excluded += mapped.excluded
            report.failed.update(f.reason for f in mapped.failures)
            if oversized:
                report.failed[OVERSIZED] += oversized
            save_watermark(runtime.registry, db.label, table, done_cursor)

        try:
            while True:
                rows = await asyncio.to_thread(_read_step, db, checked, since, cursor, step)
                if not rows:
                    break
                mapped = await asyncio.to_thread(_map_step, db, table, rows, ctx)
                cursor = (as_utc(rows[-1]["created_at"]), str(rows[-1]["id"]))
                if in_flight is not None:
                    await settle()
                in_flight = (asyncio.create_task(_publish(bus, mapped, per_message, db.label)), mapped, cursor)
                if len(rows) < step:
                    break
            if in_flight is not None:
                await settle()
                in_flight = None
        finally:
            if in_flight is not None and not in_flight[0].done():
                in_flight[0].cancel()
    except SourceSchemaError as err:
        report.error = str(err)
        log.error("extract %s: %s", table, err)
    except Exception as err:  # a database error in one table must not stop the others
        if type(err).__module__.startswith("sqlalchemy"):
            report.error = f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"
            log.error("extract %s: %s", table, report.error)
        else:
            raise
    return report


def _read_step(db: SourceDatabase, checked: Any, since: dt.datetime, cursor: Cursor | None, size: int) -> list[Any]:
    for rows in db.chunks(checked, since, cursor, size):
        return rows
    return []


def _map_step(db: SourceDatabase, table: str, rows: list[dict[str, Any]], ctx: ExtractionContext) -> MappedRows:
    return map_rows(assemble(db, table, rows), ctx)


async def extract(
    runtime: Runtime,
    bus: Bus,
    *,
    days: int | None = None,
    min_quality: float | None = None,
    source: str | None = None,
    tables: Sequence[str] | None = None,
    run_id: str | None = None,
    now: dt.datetime | None = None,
) -> ExtractionReport:
    """Extract every requested table (default: all) of the source into crucible.records.raw."""
    days = days if days is not None else runtime.policy.extraction.days
    min_quality = min_quality if min_quality is not None else runtime.policy.extraction.min_quality
    unknown = [t for t in tables or () if t not in SOURCE_TABLES]
    if unknown:
        raise ValueError(f"unknown table(s) {unknown}; extractable: {sorted(SOURCE_TABLES)}")
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(days=days)
    url = resolve_source_url(runtime, source)
    db = SourceDatabase(url)
    ctx = ExtractionContext(
        database=db.label,
        secret=runtime.subject_secret(),
        run_id=run_id or runtime.run_id,
        extracted_at=now,
        min_quality=min_quality,
        version=__version__,
        # Read once per run: someone who opts out mid-run is skipped from the next run on.
        excluded=frozenset(excluded_digests(runtime.registry)),
    )
    report = ExtractionReport(ctx.run_id, db.label, days, min_quality, since)
    try:
        with tracer(STAGE).start_as_current_span("extract") as span:
            span.set_attribute("crucible.run_id", ctx.run_id)
            for table in tables or list(SOURCE_TABLES):
                with tracer(STAGE).start_as_current_span(f"extract {table}"):
                    report.tables[table] = await extract_table(runtime, bus, db, table, since, ctx)
    finally:
        db.close()
    report.seconds = time.perf_counter() - started
    return report
