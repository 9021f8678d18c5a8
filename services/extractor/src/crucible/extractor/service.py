"""Extractor service shell: hooks for `crucible run`, the `extract.requested` handler for
`crucible serve extractor`, and the CLI commands. Both paths call `extract_and_announce`."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crucible.common import subjects
from crucible.common.services import EventHandler, ServiceSpec, deferred
from crucible.extractor import __version__

if TYPE_CHECKING:
    from crucible.common.bus import Bus
    from crucible.common.runtime import Runtime
    from crucible.extractor.extraction import ExtractionReport
    from crucible.v1 import events_pb2

log = logging.getLogger(__name__)


def demo_db(path: Path, users: int = 200, seed: int = 7) -> dict[str, Any]:
    """hooks["demo_db"]: write the demo app database to `path` (SQLite) or a SQLAlchemy URL."""
    from crucible.extractor.demo.generator import write_demo

    return write_demo(path, users, seed)


def ensure_demo_source(runtime: Runtime, source: str | None = None) -> None:
    """No source given or configured: the demo database in CRUCIBLE_HOME, generated on first use."""
    from crucible.extractor.extraction import DEMO_DB

    if source or runtime.settings.source_url:
        return
    path = Path(runtime.settings.home) / DEMO_DB
    if not path.exists():
        from crucible.extractor.demo import DEFAULT_SEED, DEFAULT_USERS
        from crucible.extractor.demo.generator import write_demo

        log.info("no source configured: generating the demo app database at %s", path)
        write_demo(path, DEFAULT_USERS, DEFAULT_SEED)


async def extract_and_announce(
    runtime: Runtime,
    bus: Bus,
    request: events_pb2.ExtractRequested,
    *,
    source: str | None = None,
) -> ExtractionReport:
    """Run one extraction and publish `extract.completed` with the per-table counts."""
    from crucible.extractor.extraction import extract
    from crucible.v1 import events_pb2

    ensure_demo_source(runtime, source)
    report = await extract(
        runtime,
        bus,
        days=request.days or None,
        min_quality=request.min_quality or None,  # proto3: 0 means "the policy's threshold"
        source=source,
        tables=list(request.tables) or None,
        run_id=request.run_id or None,
    )
    done = events_pb2.ExtractCompleted(run_id=report.run_id)
    for name, table in report.tables.items():
        done.extracted[name] = table.extracted
        done.failed[name] = sum(table.failed.values())
    done.completed_at.FromDatetime(dt.datetime.now(dt.UTC))
    await bus.publish_event(subjects.EXTRACT_COMPLETED, done, msg_id=f"extract.completed:{report.run_id}")
    return report


def extract_request(
    run_id: str, days: int, min_quality: float, tables: Sequence[str] | None = None
) -> events_pb2.ExtractRequested:
    from crucible.v1 import events_pb2

    req = events_pb2.ExtractRequested(run_id=run_id, days=days, min_quality=min_quality, tables=list(tables or []))
    req.requested_at.FromDatetime(dt.datetime.now(dt.UTC))
    return req


async def extract_hook(
    runtime: Runtime,
    days: int | None = None,
    min_quality: float | None = None,
    *,
    tables: Sequence[str] | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """hooks["extract"]: extract into crucible.records.raw; returns the counts."""
    days = days if days is not None else runtime.policy.extraction.days
    min_quality = min_quality if min_quality is not None else runtime.policy.extraction.min_quality
    request = extract_request(runtime.run_id, days, min_quality, tables)
    if runtime.bus is not None:
        report = await extract_and_announce(runtime, runtime.bus, request, source=source)
    else:
        from crucible.common.embedded import connected_bus

        async with connected_bus(runtime) as bus:
            report = await extract_and_announce(runtime, bus, request, source=source)
    return report.to_dict()


async def on_extract_requested(runtime: Runtime, payload: bytes) -> None:
    """Production: one extraction per `extract.requested` event."""
    from crucible.v1 import events_pb2

    request = events_pb2.ExtractRequested.FromString(payload)
    report = await extract_and_announce(runtime, runtime.require_bus(), request)
    log.info("extraction %s: %s", report.run_id, report.to_dict())


def run_summary(runtime: Runtime, run_id: str) -> dict[str, Any]:
    """The watermarks after the run: how far each source table has been extracted."""
    from sqlalchemy import select

    from crucible.common.registry import Watermark

    with runtime.registry.session() as s:
        marks = s.execute(select(Watermark)).scalars().all()
        return {
            "watermarks": {
                f"{m.source}#{m.table_name}": {
                    "created_at": m.last_created_at.isoformat() if m.last_created_at else None,
                    "key": m.last_key,
                }
                for m in marks
            }
        }


SPEC = ServiceSpec(
    name="extractor",
    version=__version__,
    description="App database -> raw records (crucible.records.raw)",
    order=0,
    produces="records.raw",
    events={subjects.EXTRACT_REQUESTED: EventHandler(subjects.EXTRACTOR_REQUESTS, on_extract_requested)},
    publishes=(subjects.EXTRACT_COMPLETED,),
    run_summary=run_summary,
    register_cli=deferred("crucible.extractor.cli:register"),
    benches={
        "extractor": deferred(
            "crucible.extractor.bench:bench_extractor",
            doc="Extraction rows/s (read + map + serialize) against reading alone, on the demo database.",
        )
    },
    hooks={"demo_db": demo_db, "extract": extract_hook},
)
