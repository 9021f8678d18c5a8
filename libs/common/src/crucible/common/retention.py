"""`crucible retention run`: apply the policy's ages (`privacy.retention`) in every subject store.

Each store removes what is older than its age (or, with `dry_run`, only counts it): raw stream
messages, DLQ entries, EVENTS, review items and rejections, interaction logs, run logs; the
dataset store archives versions past the active period and deletes archived ones after
`archive_months`. The counts are returned, appended to the privacy audit log, and set on
`crucible_retention_items` (one gauge per store and item, for the CronJob's metrics file).
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

from crucible.common.forgetting import append_receipt
from crucible.common.registry import utcnow
from crucible.common.runtime import Runtime
from crucible.common.store_registry import all_stores
from crucible.common.subject_stores import RetentionRequest, SubjectStore, call

METRICS = CollectorRegistry()
RETENTION_ITEMS = Gauge(
    "crucible_retention_items",
    "Items the last retention run removed (or, dry run, would remove), by store and item.",
    ["store", "item", "dry_run"],
    registry=METRICS,
)
RETENTION_LAST_RUN = Gauge(
    "crucible_retention_last_run_timestamp_seconds", "When retention last ran.", ["dry_run"], registry=METRICS
)


async def run_retention(
    runtime: Runtime,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    stores: list[SubjectStore] | None = None,
) -> dict[str, Any]:
    request = RetentionRequest(now=now or utcnow(), dry_run=dry_run, policy=runtime.policy.privacy.retention)
    stores = all_stores() if stores is None else stores
    results: dict[str, Any] = {}
    for store in stores:
        if store.retention is not None:
            results[store.name] = await call(store.retention, runtime, request)
    flag = str(dry_run).lower()
    for store_name, counts in results.items():
        for item, n in counts.items():
            if isinstance(n, int | float) and not isinstance(n, bool):
                RETENTION_ITEMS.labels(store_name, item, flag).set(n)
    RETENTION_LAST_RUN.labels(flag).set(request.now.timestamp())
    summary = {
        "receipt_id": uuid.uuid4().hex,
        "action": "retention-dry-run" if dry_run else "retention",
        "requested_by": "crucible retention run",
        "now": request.now.isoformat(),
        "finished_at": utcnow().isoformat(),
        "dry_run": dry_run,
        "policy": request.policy.model_dump(),
        "stores": results,
    }
    if not dry_run:
        append_receipt(runtime.registry, summary)
    return summary


def write_metrics(path: Path) -> None:
    """The run's gauges in Prometheus' text format (node-exporter's textfile collector reads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), METRICS)


def push_metrics(url: str, job: str = "crucible-retention") -> None:
    """The run's gauges to a Prometheus Pushgateway (a CronJob is gone before any scrape)."""
    push_to_gateway(url, job=job, registry=METRICS)
