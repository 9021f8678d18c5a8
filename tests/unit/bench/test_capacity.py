"""The capacity model's arithmetic (bench/capacity.py) on bench results shaped as the benches write them."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("capacity", Path(__file__).parents[3] / "bench" / "capacity.py")
assert _SPEC and _SPEC.loader
capacity = importlib.util.module_from_spec(_SPEC)
sys.modules["capacity"] = capacity  # dataclasses look their module up while the class is built
_SPEC.loader.exec_module(capacity)


def write_results(folder: Path) -> None:
    results = {
        "extractor": {"extract_rows_per_s": 20_000.0},
        "scrub": {"results": {"scrubber_records_per_s": 500.0}},
        "score": {"one_core": {"records_per_cpu_s": 250.0}},
        "dedup": {"records_per_cpu_s": 4_000.0, "bytes_per_indexed_record": 300.0},
        "dataset": {
            "records": 100_000,
            "store_mib": 160.0,
            "build_core_seconds_per_record": 1e-4,
            "intake": {"core_seconds_per_record": 5e-4},
        },
        "train": {"effective_tokens_per_cpu_s": 15_000.0, "mean_sample_tokens": 200.0},
        "gateway": {"gateway_cpu_ms_per_request": 2.0},
    }
    for name, data in results.items():
        (folder / f"{name}.json").write_text(json.dumps(data))


def test_replicas_follow_the_measured_cost_and_the_peak(tmp_path: Path) -> None:
    write_results(tmp_path)
    measured = capacity.load_measured(tmp_path)
    assert measured.scrub == pytest.approx(1 / 500) and measured.score == pytest.approx(1 / 250)
    target = capacity.Target(conversations_per_day=8_640_000, peak_rps=700, retrain_every_days=7)
    out = capacity.model(measured, target)
    # 100 records/s on average, x3 at peak, 1/500 core-s each, 70 % of one core per replica.
    assert out["stages"]["scrub"]["replicas"] == math.ceil(100 * 3 / 500 / 0.7)
    assert out["stages"]["score"]["replicas"] == math.ceil(100 * 3 / 250 / 0.7)
    assert out["gateway"]["replicas"] == math.ceil(700 * 0.002 / 0.7)
    indexed = 8_640_000 * target.dedup_share * 30
    assert out["redis_dedup_index_mib"] == round(indexed * 300 / 2**20, 1)
    ten_times = capacity.model(measured, capacity.Target(86_400_000, 7_000, 7))
    assert ten_times["stages"]["scrub"]["replicas"] > out["stages"]["scrub"]["replicas"]
    assert ten_times["retrain"]["gpu_hours"] == pytest.approx(10 * out["retrain"]["gpu_hours"], rel=1e-3)


def test_the_table_has_the_three_sizes(tmp_path: Path) -> None:
    write_results(tmp_path)
    table = capacity.markdown(capacity.load_measured(tmp_path), 7)
    assert "100,000/day" in table and "1,000,000/day" in table and "10,000,000/day" in table


def test_a_missing_bench_names_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"run_all\.py --only extractor"):
        capacity.load_measured(tmp_path)
