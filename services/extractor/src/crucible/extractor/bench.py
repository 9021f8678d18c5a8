"""`crucible bench extractor`: rows/s through read + lookups + mapping + serialization, against
reading the same rows alone (the baseline), in the same run on the same demo database."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

from crucible.extractor import __version__
from crucible.extractor.demo.generator import write_demo
from crucible.extractor.extraction import record_batches
from crucible.extractor.mapping import ExtractionContext, map_rows
from crucible.extractor.source import SOURCE_TABLES, SourceDatabase, assemble


def _read_all(db: SourceDatabase, since: dt.datetime, size: int) -> int:
    n = 0
    for spec in SOURCE_TABLES.values():
        for rows in db.chunks(db.check(spec), since, None, size):
            n += len(rows)
    return n


def _extract_all(db: SourceDatabase, since: dt.datetime, size: int, ctx: ExtractionContext) -> tuple[int, int, int]:
    rows_seen = records = nbytes = 0
    for name, spec in SOURCE_TABLES.items():
        for rows in db.chunks(db.check(spec), since, None, size):
            mapped = map_rows(assemble(db, name, rows), ctx)
            rows_seen += len(rows)
            records += len(mapped.records)
            nbytes += sum(len(b.SerializeToString()) for b in record_batches(mapped.records, 64)[0])
    return rows_seen, records, nbytes


def bench_extractor(quick: bool = False) -> dict[str, Any]:
    """Extraction rows/s (read + lookups + map + serialize) vs reading alone, on the demo DB."""
    users = 40 if quick else 200
    repeats = 1 if quick else 3
    size = 512
    with tempfile.TemporaryDirectory(prefix="crucible-bench-extractor-") as tmp:
        path = Path(tmp) / "demo.db"
        t0 = time.perf_counter()
        summary = write_demo(path, users, 7)
        demo_seconds = time.perf_counter() - t0
        db = SourceDatabase(f"sqlite:///{path}")
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
        ctx = ExtractionContext(db.label, b"bench-secret", "bench", dt.datetime.now(dt.UTC), 7.0, __version__)
        _read_all(db, since, size)  # warm the reflection cache and the page cache
        read_best = extract_best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            n_read = _read_all(db, since, size)
            read_best = min(read_best, time.perf_counter() - t)
            t = time.perf_counter()
            n_rows, n_records, nbytes = _extract_all(db, since, size, ctx)
            extract_best = min(extract_best, time.perf_counter() - t)
        db.close()
        bus_rate = _bus_rate(path) if not quick else None
    read_rate = n_read / read_best
    extract_rate = n_rows / extract_best
    return {
        "users": users,
        "demo_db_rows": sum(summary["tables"].values()),
        "demo_db_seconds": round(demo_seconds, 3),
        "rows_in_30_days": n_rows,
        "records": n_records,
        "record_bytes": nbytes,
        "baseline_read_rows_per_s": round(read_rate, 1),
        "extract_rows_per_s": round(extract_rate, 1),
        "extract_vs_read_ratio": round(extract_rate / read_rate, 3),
        "repeats": repeats,
        # End to end over a real nats-server (embedded): read, map, publish RecordBatches, await PubAcks,
        # move watermarks. Compare with extract_rows_per_s (the same work without the bus).
        "extract_over_nats_rows_per_s": round(bus_rate, 1) if bus_rate else None,
        "nats_vs_in_process_ratio": round(bus_rate / extract_rate, 3) if bus_rate else None,
    }


def _bus_rate(path: Path) -> float | None:
    import asyncio

    from crucible.common.config import Settings, load_policy
    from crucible.common.embedded import EmbeddedNats, EmbeddedNatsError
    from crucible.common.runtime import Runtime
    from crucible.extractor.extraction import extract

    try:
        server = EmbeddedNats().start()
    except EmbeddedNatsError:
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="crucible-bench-home-") as home:
            runtime = Runtime.create(
                Settings(home=Path(home), subject_secret="bench", log_json=False), policy=load_policy(None, {})
            )

            async def run() -> float:
                await runtime.connect(server.url)
                try:
                    report = await extract(runtime, runtime.require_bus(), days=30, source=f"sqlite:///{path}")
                finally:
                    await runtime.close()
                return report.to_dict()["rows"] / report.seconds

            return asyncio.run(run())
    finally:
        server.stop()
