"""`crucible bench console --json`: how long the review page takes to render with 10,000 queued items
(paginated), against the JSON API serving the same page of the same query alone (the baseline: the
registry read without templates). Both go through the real app over ASGI in-process, logged in."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from crucible.common.registry import Registry, ReviewItem
from crucible.v1 import records_pb2

KINDS = ("first_page", "page_100", "label_filter")
LABELS = ("self_harm_high", "self_harm_low", "unsafe_environment", "harassment")


def seed_review_items(registry: Registry, n: int, *, start: int = 0, now: dt.datetime | None = None) -> list[str]:
    """`n` pending review items shaped like the scorer's (scrubbed turns, detail JSON), one hour apart."""
    now = now or dt.datetime.now(dt.UTC)
    ids = []
    with registry.session() as s:
        for k in range(start, start + n):
            rid = f"bench-{k:06d}"
            rec = records_pb2.Record(record_id=rid, subject_token=f"tok-{k % 97}", category="empathetic_dialogue")
            rec.turns.add(role="user", text=f"[Person] and I keep arguing about money ({k}); I feel stuck.")
            rec.turns.add(role="assistant", text="That sounds exhausting. What happens right before it starts?")
            label = LABELS[k % len(LABELS)]
            detail = {
                "total": round(6.2 + (k % 10) / 10, 2),
                "threshold": 7.0,
                "components": {"engagement": 2.1, "outcome": 1.8, "content": 1.4, "diversity": 1.3},
                "issues": [],
                "category": "empathetic_dialogue",
                "review": [f"safety:{label}"] if k % 3 else ["borderline"],
                "safety": {label: round(0.5 + (k % 50) / 100, 2)} if k % 3 else {},
            }
            s.add(
                ReviewItem(
                    record_id=rid,
                    stage="scorer",
                    reason="flagged_for_review",
                    detail=json.dumps(detail, sort_keys=True),
                    subject_token=rec.subject_token,
                    record=rec.SerializeToString(),
                    status="pending",
                    created_at=now - dt.timedelta(hours=n - k),
                )
            )
            ids.append(rid)
    return ids


def bench_console(items: int = 10_000, repeats: int = 30, quick: bool = False) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from crucible.common.config import Settings
    from crucible.common.runtime import Runtime
    from crucible.console.access import token_digest
    from crucible.console.app import Console, create_app
    from crucible.console.settings import ConsoleSettings

    if quick:
        items, repeats = 1000, 5
    with tempfile.TemporaryDirectory(prefix="crucible-console-bench-") as tmp:
        runtime = Runtime.create(Settings(home=Path(tmp), log_json=False))
        seed_review_items(runtime.registry, items)
        settings = ConsoleSettings(users={"bench": {"role": "viewer", "token_sha256": token_digest("t")}})
        client = TestClient(create_app(Console(runtime=runtime, settings=settings)))
        page = client.get("/login").text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert client.post("/login", data={"user": "bench", "token": "t", "csrf": csrf}).status_code in (200, 303)
        cases = {
            "html_first_page": "/review",
            "html_page_100": "/review?page=100",
            "html_label_filter": "/review?label=self_harm_high&page=20",
            "json_first_page": "/api/review",
            "json_page_100": "/api/review?page=100",
            "json_label_filter": "/api/review?label=self_harm_high&page=20",
        }
        timings: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(repeats):
            for name, url in cases.items():
                t = time.perf_counter()
                r = client.get(url)
                timings[name].append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise RuntimeError(f"{url}: HTTP {r.status_code}")
        runtime.registry.dispose()
    ms = {name: round(1000 * statistics.median(v), 2) for name, v in timings.items()}
    p95 = {name: round(1000 * sorted(v)[int(0.95 * (len(v) - 1))], 2) for name, v in timings.items()}
    worst_html = max(ms[k] for k in ms if k.startswith("html"))
    return {
        "bench": "console",
        "items": items,
        "repeats": repeats,
        "median_ms": ms,
        "p95_ms": p95,
        "html_over_json": {k: round(ms[f"html_{k}"] / ms[f"json_{k}"], 2) for k in KINDS},
        "target_ms": 300,
        "meets_target": worst_html < 300,
    }
