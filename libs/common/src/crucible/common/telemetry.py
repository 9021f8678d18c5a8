"""Logs and metrics: JSON logs (one object per line), Prometheus metrics and `/metrics`.

Metric names follow Prometheus' rules: `crucible_<area>_<what>_<unit>`; no user ids or
record ids as labels (unbounded cardinality).
"""

from __future__ import annotations

import logging
import sys

from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter

from crucible.common.redaction import RedactingFilter

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


def setup_logging(level: str = "INFO", *, json_logs: bool = True, service: str = "crucible") -> None:
    """Configure the root logger once: JSON to stderr (for log shippers) or plain text for people."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())  # a URL with a password in an exception or a message never leaves
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("nats", "httpx", "urllib3", "presidio-analyzer", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
