"""`make bench`: run every `crucible bench <name> --json` and keep the JSON.

Each benchmark prints its figure with a baseline measured in the same run (so a ratio
means something on a noisy machine). Results go to bench/results/<name>.json and a
one-line summary per bench is printed. `--only a,b` runs a subset; `--quick` the small
versions used in tests. A full run ends with the capacity model (`bench/capacity.py`), which
reads the results and writes bench/results/capacity.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def bench_names() -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "crucible.common.cli", "bench", "list"], capture_output=True, text=True, check=True
    ).stdout
    return out.split()


def _run_script(name: str, extra: list[str], env: dict[str, str]) -> bool:
    """bench/<name>.py --json; its output kept as bench/results/<name>.json."""
    cmd = [sys.executable, str(Path(__file__).parent / f"{name}.py"), "--json", *extra]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        print(f"{name:<10} FAILED: {proc.stderr.strip().splitlines()[-1:]}")
        return False
    (RESULTS / f"{name}.json").write_text(proc.stdout)
    print(f"{name:<10} ok in {time.monotonic() - t0:.0f}s -> {RESULTS / (name + '.json')}")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated bench names")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or bench_names()
    RESULTS.mkdir(exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", CRUCIBLE_LOG_JSON="false")
    failed = []
    for name in names:
        cmd = [sys.executable, "-m", "crucible.common.cli", "bench", name, "--json"]
        if args.quick:
            cmd.append("--quick")
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        seconds = time.monotonic() - t0
        if proc.returncode != 0:
            failed.append(name)
            print(f"{name:<10} FAILED in {seconds:.0f}s: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        result = json.loads(proc.stdout)
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(f"{name:<10} ok in {seconds:.0f}s -> {RESULTS / (name + '.json')}")
    if not args.only:
        # Scripts rather than `crucible bench` entries: the bus path at scale spans four stages, which
        # no one service may import; CLI start-up times whole processes against a bare typer app
        # (issue 23: under 3x, under 1 s when quiet); the scrubber's compiled rules run against the
        # same rules as Python in two processes (issue 28's throughput).
        for script, quick_args in (
            ("bus_scale", ["--records", "20000"]),
            ("cli_startup", ["--runs", "3"]),
            ("scrub_native", ["--rounds", "1"]),
        ):
            if not _run_script(script, quick_args if args.quick else [], env):
                failed.append(script)
    if not args.only and not failed:
        # The capacity model turns the figures just measured into replicas, memory and GPU-hours.
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).parent / "capacity.py"), "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        ok = proc.returncode == 0
        print(f"{'capacity':<10} {'ok' if ok else 'FAILED'} -> {RESULTS / 'capacity.json'}")
        if not ok:
            print(proc.stderr.strip())
            failed.append("capacity")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
