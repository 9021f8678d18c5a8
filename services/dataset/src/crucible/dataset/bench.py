"""`crucible bench dataset --json [--records N]`: build a version from N generated curated records
(default 100,000; `--quick` 5,000).

The store is filled with the curated store's bulk path (COPY on PostgreSQL; timed as ingest),
streaming, so 10 M records fit. The build then runs in a fresh child process, so its peak RSS is
the build's alone; the baseline, in another fresh child, is the least any build must do: read
and parse every record from the store and write them once as plain chat JSONL, with no
selection, audit or formats. Up to 100,000 records the in-memory reference builder also runs
(a third child) and every file of the two versions is compared byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from crucible.dataset.rss import TreeRssSampler, peak_rss_mib

# Issue 27's target: 10 M curated records in under 10 minutes and 4 GiB on 2 cores.
TARGET_SECONDS = 600.0
TARGET_PEAK_MIB = 4096.0
REFERENCE_MAX_RECORDS = 100_000
_FILL_PART = 50_000  # records generated per task when the store is filled


def _runtime(home: Path) -> Any:
    from crucible.common.config import Settings, load_policy
    from crucible.common.runtime import Runtime
    from crucible.dataset.policy import DatasetPolicy

    settings = Settings(home=home, subject_secret="bench-secret", log_json=False)
    return Runtime.create(settings, policy=load_policy(None, section_models={"dataset": DatasetPolicy}))


def _child_build(home: str) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import logging

    from crucible.dataset.streaming import default_workers
    from crucible.dataset.versions import build_dataset_version

    runtime = _runtime(Path(home))
    phases: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: (  # type: ignore[method-assign]
        phases.append(record.getMessage()) if record.getMessage().startswith("dataset build:") else None
    )
    streaming_log = logging.getLogger("crucible.dataset")
    streaming_log.addHandler(handler)
    streaming_log.setLevel(logging.INFO)
    workers = default_workers(_store_count(runtime))
    start_rss = peak_rss_mib()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, c0 = time.perf_counter(), time.process_time()
    with TreeRssSampler() as tree_rss:
        built = build_dataset_version(runtime)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = (children.ru_utime - children0.ru_utime) + (children.ru_stime - children0.ru_stime)
    runtime.registry.dispose()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu + workers_cpu,
        "main_cpu_seconds": cpu,
        "workers_cpu_seconds": workers_cpu,
        "workerspeak_rss_mib": children.ru_maxrss / 1024.0,  # the largest worker (Linux: KiB)
        "peak_rss_mib": peak_rss_mib(),
        "treepeak_rss_mib": tree_rss.peak_bytes / 2**20,
        "tree_rss_samples": tree_rss.samples,
        "rss_before_build_mib": start_rss,
        "version": built.version,
        "records": built.manifest["counts"]["total"],
        "split_counts": built.split_counts,
        "fairness_score": built.fairness_score,
        "files": len(built.manifest["files"]),
        "bytes_written": sum(f["bytes"] for f in built.manifest["files"].values()),
        "phases": phases,
        "workers": workers,
    }


def _store_count(runtime: Any) -> int:
    from crucible.dataset.store import count_records

    return count_records(runtime.registry)


def _child_baseline(home: str) -> dict[str, Any]:
    import json

    from crucible.dataset.store import iter_eligible_records

    runtime = _runtime(Path(home))
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    target = runtime.artifacts.local_path("baseline/all.chat.jsonl")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as fh:
        for record in iter_eligible_records(runtime.registry):
            messages = [{"role": t.role, "content": t.text} for t in record.turns]
            fh.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
            n += 1
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    runtime.artifacts.delete("baseline")
    runtime.registry.dispose()
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mib": peak_rss_mib(), "records": n}


def _child_reference(home: str) -> dict[str, Any]:
    """The in-memory builder (the oracle) on the same store, as the version just built; file hashes."""
    import datetime as dt

    from crucible.dataset.builder import build_version
    from crucible.dataset.store import iter_eligible_records
    from crucible.dataset.versions import dataset_policy, list_versions

    runtime = _runtime(Path(home))
    version = list_versions(runtime.registry)[-1]["version"]
    manifest = runtime.artifacts.read_json(f"datasets/{version}/manifest.json")
    t0, c0 = time.perf_counter(), time.process_time()
    records = list(iter_eligible_records(runtime.registry))
    hashes: dict[str, str] = {}
    build_version(
        records,
        dataset_policy(runtime),
        version=version,
        created=dt.date.fromisoformat(manifest["created"]),
        write=lambda name, data: hashes.__setitem__(name, hashlib.sha256(data).hexdigest()),
    )
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    built = {name: runtime.artifacts.sha256(f"datasets/{version}/{name}") for name in hashes}
    runtime.registry.dispose()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mib": peak_rss_mib(),
        "files_compared": len(hashes),
        "identical": built == hashes,
    }


def _fill_part(start: int, count: int, subjects: int) -> list[tuple[Any, ...]]:
    """Rows (in `row_from_record`'s column order) of records start..start+count-1 of the bench store."""
    from crucible.common.registry import utcnow
    from crucible.dataset.sample_records import iter_curated_records
    from crucible.dataset.store import row_from_record

    now = utcnow()
    return [
        tuple(row_from_record(r, now).values())
        for r in iter_curated_records(count, seed=11, subjects=subjects, start=start)
    ]


def _fill_store(runtime: Any, n: int) -> tuple[float, list[Any]]:
    """Generate and insert n records; returns (seconds, the first 20,000 records for the encoder test).

    Parts of the store are generated on one process per core (generating a protobuf record costs
    several times inserting it), in order, a bounded number in flight; the main process inserts them
    with the curated store's bulk path."""
    import sys
    from collections import deque

    from sqlalchemy import text

    from crucible.common.registry import CuratedRecord, utcnow
    from crucible.dataset.sample_records import iter_curated_records
    from crucible.dataset.store import copy_rows, row_from_record

    subjects = max(n // 20, 1)
    t0 = time.perf_counter()
    keep = list(iter_curated_records(min(n, 20_000), seed=11, subjects=subjects))  # part 0's first records
    columns = list(row_from_record(keep[0], utcnow())) if keep else []
    done = 0
    # Bulk load, then index: the secondary indexes (subject, cluster, category) are dropped while the
    # rows go in and built once at the end (a sort each) instead of growing at random places per row.
    indexes = list(CuratedRecord.__table__.indexes) if runtime.registry.engine.dialect.name == "sqlite" else []
    with runtime.registry.engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=get_context("spawn")) as pool:
        pending: deque[Any] = deque()
        parts = iter(range(0, n, _FILL_PART))

        def submit() -> None:
            start = next(parts, None)
            if start is not None:
                pending.append(pool.submit(_fill_part, start, min(_FILL_PART, n - start), subjects))

        for _ in range(2 * (os.cpu_count() or 1)):
            submit()
        while pending:
            rows = pending.popleft().result()
            submit()
            with runtime.registry.session() as session:
                if indexes:  # a page cache that holds the primary key's hot pages (SQLite's default: 2 MB)
                    session.execute(text("PRAGMA cache_size = -262144"))
                copy_rows(session, CuratedRecord.__table__, columns, rows)
            before, done = done, done + len(rows)
            if done // 1_000_000 > before // 1_000_000:
                print(f"bench dataset: {done} records in the store", file=sys.stderr, flush=True)
    with runtime.registry.engine.begin() as conn:
        for index in indexes:
            index.create(conn)
    return time.perf_counter() - t0, keep


def _encoder_comparison(records: list[Any]) -> dict[str, Any]:
    """orjson (used) against the standard library (the oracle) on the same examples, same bytes."""
    from crucible.dataset.formats import render_jsonl, render_jsonl_stdlib, to_example

    examples = [to_example(r) for r in records]
    out: dict[str, Any] = {}
    for name, fn in (("orjson", render_jsonl), ("stdlib_json", render_jsonl_stdlib)):
        t0 = time.perf_counter()
        data = [fn(examples, fmt, "You are a coach.") for fmt in ("chat", "alpaca", "sharegpt", "seed")]
        out[f"{name}_seconds"] = round(time.perf_counter() - t0, 3)
        out[f"{name}_sha256"] = hashlib.sha256(b"".join(data)).hexdigest()
    out["same_bytes"] = out["orjson_sha256"] == out["stdlib_json_sha256"]
    out["speedup"] = round(out["stdlib_json_seconds"] / out["orjson_seconds"], 2) if out["orjson_seconds"] else None
    out["records"] = len(examples)
    return out


def _intake_cost(records: list[Any], home: Path) -> dict[str, Any]:
    """CPU-seconds per record of the stage's own work as the bus worker runs it: validate and
    normalise (`DatasetIntake.process`), then upsert into the curated store (the sink)."""
    from crucible.dataset.intake import DatasetIntake
    from crucible.dataset.policy import DatasetPolicy
    from crucible.dataset.store import upsert_records

    runtime = _runtime(home)
    stage = DatasetIntake(DatasetPolicy().category_mix)
    c0 = time.process_time()
    for start in range(0, len(records), 64):  # 64 records per message, the bus default
        upsert_records(runtime.registry, stage.process(records[start : start + 64]).kept)
    cpu = time.process_time() - c0
    runtime.registry.dispose()
    return {
        "records": len(records),
        "cpu_seconds": round(cpu, 3),
        "core_seconds_per_record": round(cpu / len(records), 9),
    }


def _in_fresh_process(fn: Any, home: str) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        result: dict[str, Any] = pool.submit(fn, home).result()
        return result


def bench_dataset(quick: bool = False, records: int | None = None) -> dict[str, Any]:
    n = records or (5_000 if quick else 100_000)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="crucible-bench-dataset-") as tmp:
        home = Path(tmp)
        runtime = _runtime(home)
        ingest_s, sample = _fill_store(runtime, n)
        runtime.registry.dispose()
        store_mib = (home / "registry.db").stat().st_size / 2**20 if (home / "registry.db").exists() else None
        encoders = _encoder_comparison(sample)
        intake_home = home / "intake"
        intake = _intake_cost(sample[:5_000], intake_home)
        shutil.rmtree(intake_home, ignore_errors=True)
        del sample
        baseline = _in_fresh_process(_child_baseline, str(home))
        build = _in_fresh_process(_child_build, str(home))
        reference = _in_fresh_process(_child_reference, str(home)) if n <= REFERENCE_MAX_RECORDS else None
    return {
        "records": n,
        "build_seconds": round(build["seconds"], 3),
        "peak_rss_mib": round(build["peak_rss_mib"], 1),
        "rss_before_build_mib": round(build["rss_before_build_mib"], 1),
        "build_cpu_seconds": round(build["cpu_seconds"], 3),
        "build_main_cpu_seconds": round(build["main_cpu_seconds"], 3),
        "build_workers_cpu_seconds": round(build["workers_cpu_seconds"], 3),
        "build_workerspeak_rss_mib": round(build["workerspeak_rss_mib"], 1),
        # The main process's peak plus every worker at the largest worker's peak: an upper bound.
        "peak_rss_mib_with_workers": round(build["peak_rss_mib"] + build["workers"] * build["workerspeak_rss_mib"], 1),
        # Main + workers resident at the same moment, sampled from /proc every 0.2 s during the build.
        "peak_rss_mib_process_tree": round(build["treepeak_rss_mib"], 1),
        "process_tree_rss_samples": build["tree_rss_samples"],
        "baseline_seconds": round(baseline["seconds"], 3),
        "baseline_cpu_seconds": round(baseline["cpu_seconds"], 3),
        "baselinepeak_rss_mib": round(baseline["peak_rss_mib"], 1),
        "baseline": "read + parse every record from the store, write one plain chat JSONL (no selection/audit)",
        "ratio_build_to_baseline": round(build["seconds"] / baseline["seconds"], 2) if baseline["seconds"] else None,
        # CPU seconds are the steadier comparison on a shared machine (wall time includes waiting for cores).
        "ratio_build_to_baseline_cpu": (
            round(build["cpu_seconds"] / baseline["cpu_seconds"], 2) if baseline["cpu_seconds"] else None
        ),
        "records_per_second": round(n / build["seconds"], 1),
        "build_core_seconds_per_record": round(build["cpu_seconds"] / n, 9),
        "ingest_seconds": round(ingest_s, 3),
        "ingest_records_per_second": round(n / ingest_s, 1),
        "store_mib": round(store_mib, 1) if store_mib is not None else None,
        "version": {k: build[k] for k in ("version", "records", "split_counts", "fairness_score", "files")},
        "bytes_written": build["bytes_written"],
        "build_phases": build["phases"],
        "reference": (
            None
            if reference is None
            else {
                "identical": reference["identical"],
                "files_compared": reference["files_compared"],
                "seconds": round(reference["seconds"], 3),
                "cpu_seconds": round(reference["cpu_seconds"], 3),
                "peak_rss_mib": round(reference["peak_rss_mib"], 1),
                "what": "the in-memory builder (builder.build_version) on the same store: the byte-identity oracle",
            }
        ),
        "json_encoders": encoders,
        "intake": intake,
        "target_seconds": TARGET_SECONDS,
        "target_peak_mib": TARGET_PEAK_MIB,
        "meets_targets": build["seconds"] < TARGET_SECONDS
        and max(build["peak_rss_mib"], build["treepeak_rss_mib"]) < TARGET_PEAK_MIB,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "quick": quick,
    }
