"""Metrics: Prometheus metrics and `/metrics` (logs: `crucible.common.logs`).

Metric names follow Prometheus' rules: `crucible_<area>_<what>_<unit>`; no user ids or
record ids as labels (unbounded cardinality).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

STAGE_RECORDS = Counter(
    "crucible_stage_records_total",
    "Records seen by a stage, by outcome (in, kept, rejected, held, dlq).",
    ["stage", "outcome"],
)
STAGE_REJECTIONS = Counter(
    "crucible_stage_rejections_total", "Records a stage rejected, by reason.", ["stage", "reason"]
)
STAGE_BATCH_SECONDS = Histogram(
    "crucible_stage_batch_seconds",
    "Wall time to process one fetched batch, publish outputs and ack inputs.",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
STAGE_CONSUMER_LAG = Gauge(
    "crucible_stage_consumer_lag_messages", "Messages waiting for a stage's durable consumer.", ["stage"]
)
STAGE_REDELIVERIES = Counter(
    "crucible_stage_redeliveries_total", "Input messages nak'ed for redelivery after a failure.", ["stage"]
)
