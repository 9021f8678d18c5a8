"""The capacity model: each stage's measured one-core figure (bench/results/<name>.json, written by
`make bench`) turned into core-seconds per record, then, for a target load, replicas per stage,
the Redis memory of the dedup index, NATS storage, the dataset build's time and the GPU-hours of
a retrain.

    python bench/capacity.py --json                      # the model for --conversations-per-day
    python bench/capacity.py --markdown                  # the docs/capacity.md table (100k, 1M, 10M a day)

Measured (from the bench JSON): extract, scrub, score, dedup, dataset core-seconds per record;
dedup bytes per indexed record; stored bytes per curated record; train tokens per CPU-second and
mean tokens per example; evaluation seconds per prompt; gateway CPU per request. Assumed (flags,
printed in the output under "assumptions"): the share of conversations that survive each stage,
the peak-to-average factor, how much headroom a replica keeps, the backlog JetStream must hold,
the production base model's size, GPU peak FLOP/s and MFU (no GPU figure is measured here).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
DAY = 86_400.0


def find(obj: Any, key: str) -> Any:
    """The first value under `key` anywhere in a bench's JSON (benches nest their figures differently)."""
    for k, v in _walk(obj):
        if k == key and v is not None:
            return v
    return None


def find_all(obj: Any, key: str) -> list[Any]:
    return [v for k, v in _walk(obj) if k == key and v is not None]


def at(obj: Any, path: str) -> Any:
    """The value at a dotted path, or None."""
    for part in path.split("."):
        if not isinstance(obj, Mapping) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _walk(obj: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield k, v
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)


@dataclass(frozen=True)
class Measured:
    """Core-seconds per unit, from one run of the benches on one core each."""

    extract: float
    scrub: float
    score: float
    dedup: float
    dataset: float  # the stage's intake: validate, normalise, upsert into the curated store
    dataset_build: float  # per record in the store, for one version build
    dedup_index_bytes_per_record: float
    record_bytes: float  # a curated record as stored (serialized Record + lineage columns)
    train_tokens_per_cpu_s: float | None
    tokens_per_example: float | None
    eval_seconds_per_prompt: float | None
    gateway_cpu_s_per_request: float | None
    sources: dict[str, str]


def _per(rate: Any) -> float | None:
    return 1.0 / float(rate) if rate else None


def load_measured(results: Path) -> Measured:
    """Read every bench result; a missing one is a clear error naming the bench to run."""

    def read(name: str) -> dict[str, Any]:
        path = results / f"{name}.json"
        if not path.exists():
            raise SystemExit(f"capacity: {path} is missing; run `python bench/run_all.py --only {name}` first")
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    extractor, scrub, score, dedup, dataset = (read(n) for n in ("extractor", "scrub", "score", "dedup", "dataset"))
    optional = {n: read(n) for n in ("train", "eval", "gateway") if (results / f"{n}.json").exists()}
    train, ev, gateway = optional.get("train", {}), optional.get("eval", {}), optional.get("gateway", {})
    eval_prompts = find(ev, "test_prompts")
    eval_seconds = at(ev, "seconds.total")  # generation + metrics + judge, set-up not counted
    # The most CPU a request cost in any of the gateway bench's settings (protocol, concurrency, delay).
    gw_ms = max(find_all(gateway, "gateway_cpu_ms_per_request"), default=None)
    store_mib = find(dataset, "store_mib")
    return Measured(
        extract=_required(_per(find(extractor, "extract_rows_per_s")), "extractor.extract_rows_per_s"),
        scrub=_required(_per(find(scrub, "scrubber_records_per_s")), "scrub.scrubber_records_per_s"),
        score=_required(_per(find(score, "records_per_cpu_s")), "score.records_per_cpu_s"),
        dedup=_required(
            _per(at(dedup, "throughput.crucible.records_per_cpu_s") or find(dedup, "records_per_cpu_s")),
            "dedup.throughput.crucible.records_per_cpu_s",
        ),
        dataset=float(dataset["intake"]["core_seconds_per_record"]),
        dataset_build=float(dataset["build_core_seconds_per_record"]),
        dedup_index_bytes_per_record=float(find(dedup, "bytes_per_indexed_record") or 0.0),
        record_bytes=(store_mib * 2**20 / dataset["records"]) if store_mib else 0.0,
        train_tokens_per_cpu_s=find(train, "effective_tokens_per_cpu_s"),
        tokens_per_example=find(train, "mean_sample_tokens"),
        eval_seconds_per_prompt=(float(eval_seconds) / float(eval_prompts)) if eval_seconds and eval_prompts else None,
        gateway_cpu_s_per_request=float(gw_ms) / 1000.0 if gw_ms else None,
        sources={
            "extract": "extractor.extract_rows_per_s",
            "scrub": "scrub.scrubber_records_per_s",
            "score": "score.records_per_cpu_s",
            "dedup": "dedup.records_per_cpu_s, dedup.bytes_per_indexed_record",
            "dataset": "dataset.intake.core_seconds_per_record, dataset.build_core_seconds_per_record, "
            "dataset.store_mib / records",
            "train": "train.effective_tokens_per_cpu_s, train.mean_sample_tokens (tiny model on CPU)",
            "eval": "eval.seconds.total / test_prompts (tiny model on CPU, one process)",
            "gateway": "gateway.gateway_cpu_ms_per_request (the largest over its settings)",
        },
    )


def _required(value: float | None, name: str) -> float:
    if value is None:
        raise SystemExit(f"capacity: {name} is not in the bench results; re-run that bench")
    return value


@dataclass(frozen=True)
class Target:
    conversations_per_day: float
    peak_rps: float  # gateway requests/s at peak
    retrain_every_days: float
    # Assumptions (printed with the result):
    # Shares of extracted conversations reaching each stage, from `crucible run --users 200 --steps dataset`
    # (demo seed 7): scrubber 4,126 in, 4,126 out; scorer 179 out (3,344 below quality, 603 held for
    # review); dedup and dataset 179 in.
    scored_share: float = 1.0
    dedup_share: float = 179 / 4126
    curated_share: float = 179 / 4126
    peak_factor: float = 3.0  # peak ingest rate over the daily average
    utilisation: float = 0.7  # a replica's CPU kept below this
    cores_per_replica: float = 1.0
    dedup_window_days: float = 30.0  # how long an indexed record stays in the dedup index
    store_days: float = 365.0  # curated records a build reads (the store only grows; forget removes)
    backlog_hours: float = 24.0  # JetStream sized to hold a day's input if a stage is down
    nats_replicas: int = 3
    epochs: float = 3.0
    base_params: float = 8e9  # the chart's default base model (Llama 3.1 8B)
    gpu_peak_flops: float = 989e12  # H100 SXM dense BF16
    mfu: float = 0.35
    selected_share: float = 65 / 179  # of the store, in a version (the same demo run: 65 of 179)


def replicas(records_per_s: float, core_s_per_record: float, t: Target) -> int:
    return max(1, math.ceil(records_per_s * core_s_per_record * t.peak_factor / (t.cores_per_replica * t.utilisation)))


def model(m: Measured, t: Target) -> dict[str, Any]:
    rate = t.conversations_per_day / DAY
    flows = {
        "extract": rate,
        "scrub": rate,
        "score": rate * t.scored_share,
        "dedup": rate * t.dedup_share,
        "dataset": rate * t.curated_share,
    }
    costs = {"extract": m.extract, "scrub": m.scrub, "score": m.score, "dedup": m.dedup, "dataset": m.dataset}
    stages = {
        name: {
            "records_per_s_average": round(flows[name], 3),
            "core_seconds_per_record": round(costs[name], 9),
            "cores_at_peak": round(flows[name] * costs[name] * t.peak_factor, 3),
            "replicas": replicas(flows[name], costs[name], t),
        }
        for name in flows
    }
    store_records = t.conversations_per_day * t.curated_share * t.store_days
    build_core_s = store_records * m.dataset_build
    indexed = t.conversations_per_day * t.dedup_share * t.dedup_window_days
    backlog_records = rate * 3600 * t.backlog_hours * (1 + 1 + t.scored_share + t.dedup_share)
    train_tokens = store_records * t.selected_share * 0.9 * (m.tokens_per_example or 0) * t.epochs
    gpu_hours = 6 * t.base_params * train_tokens / (t.gpu_peak_flops * t.mfu) / 3600 if train_tokens else None
    gateway = (
        max(2, math.ceil(t.peak_rps * m.gateway_cpu_s_per_request / (t.cores_per_replica * t.utilisation)))
        if m.gateway_cpu_s_per_request
        else None
    )
    return {
        "target": {
            "conversations_per_day": t.conversations_per_day,
            "peak_rps": t.peak_rps,
            "retrain_every_days": t.retrain_every_days,
        },
        "stages": stages,
        "gateway": {
            "cpu_seconds_per_request": m.gateway_cpu_s_per_request,
            "replicas": gateway,
            "note": "the gateway's own CPU; model serving (TGI/vLLM GPUs) is sized by the serving pool",
        },
        "dataset_build": {
            "store_records": round(store_records),
            "core_seconds_per_record": m.dataset_build,
            "core_seconds": round(build_core_s, 1),
            "minutes_on_2_cores": round(build_core_s / 2 / 60, 1),
        },
        "redis_dedup_index_mib": round(indexed * m.dedup_index_bytes_per_record / 2**20, 1),
        "nats_storage_gib": round(backlog_records * m.record_bytes * t.nats_replicas / 2**30, 2),
        "retrain": {
            "train_tokens": round(train_tokens),
            "gpu_hours": round(gpu_hours, 2) if gpu_hours is not None else None,
            "gpu_hours_per_month": round(gpu_hours * 30 / t.retrain_every_days, 1) if gpu_hours else None,
            "eval_prompts": round(store_records * t.selected_share * 0.05),
            # The tiny model on CPU: a floor for the pipeline's own work, not a production model's generation.
            "eval_core_hours_tiny_model": (
                round(store_records * t.selected_share * 0.05 * m.eval_seconds_per_prompt / 3600, 2)
                if m.eval_seconds_per_prompt
                else None
            ),
            "cpu_measured_tokens_per_core_s": m.train_tokens_per_cpu_s,
        },
        "assumptions": {
            k: v for k, v in asdict(t).items() if k not in ("conversations_per_day", "peak_rps", "retrain_every_days")
        },
        "measured": asdict(m),
    }


SIZES = ((100_000, 5.0), (1_000_000, 50.0), (10_000_000, 500.0))


def markdown(m: Measured, retrain_every_days: float) -> str:
    rows = [model(m, Target(c, rps, retrain_every_days)) for c, rps in SIZES]
    head = "| | " + " | ".join(f"{int(r['target']['conversations_per_day']):,}/day" for r in rows) + " |"
    out = [head, "|---|" + "---:|" * len(rows)]

    def line(label: str, values: list[Any]) -> None:
        out.append(f"| {label} | " + " | ".join(str(v) for v in values) + " |")

    line("peak gateway requests/s", [r["target"]["peak_rps"] for r in rows])
    for stage in ("extract", "scrub", "score", "dedup", "dataset"):
        line(f"{stage} replicas (1 core)", [r["stages"][stage]["replicas"] for r in rows])
    line("gateway replicas (1 core)", [r["gateway"]["replicas"] for r in rows])
    line("curated store after a year (records)", [f"{r['dataset_build']['store_records']:,}" for r in rows])
    line("dataset build, minutes on 2 cores", [r["dataset_build"]["minutes_on_2_cores"] for r in rows])
    line("Redis dedup index (MiB)", [r["redis_dedup_index_mib"] for r in rows])
    line("NATS storage, 24 h backlog x3 (GiB)", [r["nats_storage_gib"] for r in rows])
    line("GPU-hours per retrain (8B, MFU 0.35)", [r["retrain"]["gpu_hours"] for r in rows])
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the bench JSON (bench/results)")
    parser.add_argument("--conversations-per-day", type=float, default=1_000_000)
    parser.add_argument("--peak-rps", type=float, default=50.0, help="gateway requests/s at peak")
    parser.add_argument("--retrain-every-days", type=float, default=7.0)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--markdown", action="store_true", help="print the 100k / 1M / 10M table")
    args = parser.parse_args(argv)
    measured = load_measured(args.results)
    if args.markdown:
        sys.stdout.write(markdown(measured, args.retrain_every_days))
        return 0
    result = model(measured, Target(args.conversations_per_day, args.peak_rps, args.retrain_every_days))
    text = json.dumps(result, indent=2, sort_keys=True)
    if args.results.exists():
        (args.results / "capacity.json").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
