"""The scrubber's compiled rules against the same rules run as Python, in one run (native.py).

Two worker processes, one with the compiled rules and one with `CRUCIBLE_SCRUBBER_NATIVE=0`, each
build the detector once and then, on command, time `detect` over the 1,500 presidio-synth texts (CPU
time, one thread, a full GC before each pass). The parent asks them in turn, `--rounds` times, so both
see the same machine load, and reports the best pass of each, their ratio, and whether every text
gave the same spans in both (the figure means nothing otherwise).

Usage: `python bench/scrub_native.py [--json] [--rounds 5]` (about half a minute). Needs the compiled
copy (`make native`); without it both workers run Python and the ratio is about 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_WORKER = """
import gc, json, sys, time
from crucible.scrubber.bench import default_dataset
from crucible.scrubber.detect import Detector
from crucible.scrubber.native import in_use
texts = [r["full_text"] for r in json.loads(default_dataset().read_text())]
detector = Detector.create()
spans = [[(s.start, s.end, s.entity_type) for s in detector.detect(t)] for t in texts]
print(json.dumps({"compiled": in_use(), "spans": spans}), flush=True)
for _ in sys.stdin:
    gc.collect()
    t0 = time.process_time()
    for t in texts:
        detector.detect(t)
    print(json.dumps({"us_per_text": (time.process_time() - t0) / len(texts) * 1e6}), flush=True)
"""


def _worker(switch: str) -> subprocess.Popen[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", CRUCIBLE_SCRUBBER_NATIVE=switch)
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )


def run(rounds: int) -> dict[str, object]:
    workers = {"python": _worker("0"), "compiled": _worker("1")}
    first = {name: json.loads(w.stdout.readline()) for name, w in workers.items()}  # type: ignore[union-attr]
    passes: dict[str, list[float]] = {name: [] for name in workers}
    for _ in range(rounds):
        for name, w in workers.items():
            w.stdin.write("go\n")  # type: ignore[union-attr]
            w.stdin.flush()  # type: ignore[union-attr]
            passes[name].append(json.loads(w.stdout.readline())["us_per_text"])  # type: ignore[union-attr]
    for w in workers.values():
        w.stdin.close()  # type: ignore[union-attr]
        w.wait()
    python_us, compiled_us = min(passes["python"]), min(passes["compiled"])
    same = sum(a == b for a, b in zip(first["python"]["spans"], first["compiled"]["spans"], strict=True))
    return {
        "texts": len(first["python"]["spans"]),
        "rounds": rounds,
        "compiled_in_use": first["compiled"]["compiled"],
        "python_us_per_text": round(python_us, 1),
        "compiled_us_per_text": round(compiled_us, 1),
        "speedup": round(python_us / compiled_us, 3),
        "texts_with_identical_spans": same,
        "passes_us": {k: [round(v, 1) for v in vs] for k, vs in passes.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes per worker (the best counts)")
    args = parser.parse_args()
    result = run(max(1, args.rounds))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"detect: {result['python_us_per_text']} us/text as Python, {result['compiled_us_per_text']} compiled "
            f"({result['speedup']}x); identical spans on {result['texts_with_identical_spans']}/{result['texts']} texts"
        )


if __name__ == "__main__":
    main()
