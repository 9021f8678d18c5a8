"""`crucible bench dataset --json`: build a version from 100,000 generated curated records.

The store is filled through the same upsert the stage's sink uses (timed as ingest). The build
then runs in a fresh child process, so its peak RSS is the build's alone; the baseline, in
another fresh child, is the least any build must do: read and parse every record from the
store and write them once as plain chat JSONL, with no selection, audit or formats.
"""

from __future__ import annotations

import hashlib
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

TARGET_SECONDS = 60.0
TARGET_PEAK_MIB = 2048.0


def _runtime(home: Path) -> Any:
    from crucible.common.config import Settings, load_policy
    from crucible.common.runtime import Runtime
    from crucible.dataset.policy import DatasetPolicy

    settings = Settings(home=home, subject_secret="bench-secret", log_json=False)
    return Runtime.create(settings, policy=load_policy(None, section_models={"dataset": DatasetPolicy}))


def _peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: ru_maxrss survives exec, so a spawned child
    would report its (large) parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child_build(home: str) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from crucible.dataset.versions import build_dataset_version

    runtime = _runtime(Path(home))
    start_rss = _peak_rss_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    built = build_dataset_version(runtime)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    runtime.registry.dispose()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mib": _peak_rss_mib(),
        "rss_before_build_mib": start_rss,
        "version": built.version,
        "records": built.manifest["counts"]["total"],
        "split_counts": built.split_counts,
        "fairness_score": built.fairness_score,
        "files": len(built.manifest["files"]),
        "bytes_written": sum(f["bytes"] for f in built.manifest["files"].values()),
    }


def _child_baseline(home: str) -> dict[str, Any]:
    import json

    from crucible.dataset.store import iter_eligible_records

    runtime = _runtime(Path(home))
    t0, c0 = time.perf_counter(), time.process_time()
    lines = []
    for record in iter_eligible_records(runtime.registry):
        messages = [{"role": t.role, "content": t.text} for t in record.turns]
        lines.append(json.dumps({"messages": messages}, ensure_ascii=False))
    runtime.artifacts.write_text("baseline/all.chat.jsonl", "\n".join(lines) + "\n")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    runtime.registry.dispose()
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mib": _peak_rss_mib(), "records": len(lines)}


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


def _in_fresh_process(fn: Any, home: str) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        result: dict[str, Any] = pool.submit(fn, home).result()
        return result


def bench_dataset(quick: bool = False) -> dict[str, Any]:
    from crucible.dataset.sample_records import generate_curated_records
    from crucible.dataset.store import upsert_records

    n = 5_000 if quick else 100_000
    with tempfile.TemporaryDirectory(prefix="crucible-bench-dataset-") as tmp:
        home = Path(tmp)
        runtime = _runtime(home)
        t0 = time.perf_counter()
        records = generate_curated_records(n, seed=11)
        generate_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for start in range(0, n, 5_000):
            upsert_records(runtime.registry, records[start : start + 5_000])
        ingest_s = time.perf_counter() - t0
        runtime.registry.dispose()
        encoders = _encoder_comparison(records[: min(n, 20_000)])
        del records
        baseline = _in_fresh_process(_child_baseline, str(home))
        build = _in_fresh_process(_child_build, str(home))
    return {
        "records": n,
        "build_seconds": round(build["seconds"], 3),
        "peak_rss_mib": round(build["peak_rss_mib"], 1),
        "rss_before_build_mib": round(build["rss_before_build_mib"], 1),
        "build_cpu_seconds": round(build["cpu_seconds"], 3),
        "baseline_seconds": round(baseline["seconds"], 3),
        "baseline_cpu_seconds": round(baseline["cpu_seconds"], 3),
        "baseline_peak_rss_mib": round(baseline["peak_rss_mib"], 1),
        "baseline": "read + parse every record from the store, write one plain chat JSONL (no selection/audit)",
        "ratio_build_to_baseline": round(build["seconds"] / baseline["seconds"], 2) if baseline["seconds"] else None,
        # CPU seconds are the steadier comparison on a shared machine (wall time includes waiting for cores).
        "ratio_build_to_baseline_cpu": (
            round(build["cpu_seconds"] / baseline["cpu_seconds"], 2) if baseline["cpu_seconds"] else None
        ),
        "records_per_second": round(n / build["seconds"], 1),
        "ingest_seconds": round(ingest_s, 3),
        "ingest_records_per_second": round(n / ingest_s, 1),
        "generate_seconds": round(generate_s, 3),
        "version": {k: build[k] for k in ("version", "records", "split_counts", "fairness_score", "files")},
        "bytes_written": build["bytes_written"],
        "json_encoders": encoders,
        "target_seconds": TARGET_SECONDS,
        "target_peak_mib": TARGET_PEAK_MIB,
        "meets_targets": build["seconds"] < TARGET_SECONDS and build["peak_rss_mib"] < TARGET_PEAK_MIB,
        "quick": quick,
    }
