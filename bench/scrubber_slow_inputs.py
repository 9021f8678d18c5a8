"""Scrubber cost on PII-dense input (issue 25, item 10): CPU seconds for one record of 10, 80 and 900 KB of
text with a name, phone, email and street address every ~150 characters, and the per-KB cost of the large
ones against the 10 KB one measured in the same run (linear cost: ratios near 1).

`python bench/scrubber_slow_inputs.py [--json] [--sizes 10,80,900]`
"""

from __future__ import annotations

import argparse
import json
import random
import time

from crucible.scrubber.core import Scrubber
from crucible.scrubber.offline import use_bundled_suffix_list
from crucible.v1 import records_pb2

FIRST = ["John", "Maria", "Ahmed", "Priya", "Chen", "Olga", "Kwame", "Lucia", "Sven", "Aiko"]
LAST = ["Smith", "Garcia", "Khan", "Patel", "Wong", "Ivanova", "Mensah", "Rossi", "Berg", "Tanaka"]


def pii_dense(chars: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < chars:
        f, last = rng.choice(FIRST), rng.choice(LAST)
        part = (
            f"My partner {f} {last} said to call {rng.randint(200, 999)}-555-{rng.randint(1000, 9999)} or write to "
            f"{f.lower()}.{last.lower()}{rng.randint(1, 99)}@example.com, we live at {rng.randint(1, 999)} Elm "
            "Street, Springfield. "
        )
        parts.append(part)
        size += len(part)
    return "".join(parts)[:chars]


def cpu_seconds(scrubber: Scrubber, kb: int) -> float:
    record = records_pb2.Record(record_id=f"kb{kb}")
    record.turns.add(role="user", text=pii_dense(kb * 1000))
    t0 = time.process_time()
    scrubber.process([record])
    return time.process_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sizes", default="10,80,900")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    use_bundled_suffix_list()
    scrubber = Scrubber.create()
    scrubber.max_record_chars = 10**8  # the cap would reject the large ones: measure the scrubbing itself
    cpu_seconds(scrubber, 2)  # warm-up (first use loads the recognizers)
    seconds = {kb: round(cpu_seconds(scrubber, kb), 3) for kb in sizes}
    base = seconds[sizes[0]] / sizes[0]
    out = {
        "bench": "scrubber_slow_inputs",
        "cpu_seconds": {f"{kb}KB": s for kb, s in seconds.items()},
        "baseline": f"{sizes[0]}KB",
        "per_kb_ratio_vs_baseline": {f"{kb}KB": round((s / kb) / base, 2) for kb, s in seconds.items()},
    }
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
