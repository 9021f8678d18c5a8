"""Prometheus instruments for the job a trainer replica is running (one at a time per replica): gauges and a counter."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

TRAIN_STEP = Gauge("crucible_train_step", "Optimizer step of the running training job.")
TRAIN_TOTAL_STEPS = Gauge("crucible_train_total_steps", "Total optimizer steps of the running training job.")
TRAIN_LOSS = Gauge("crucible_train_loss", "Training loss at the last logged step.")
TRAIN_EVAL_LOSS = Gauge("crucible_train_eval_loss", "Validation loss at the last evaluation.")
TRAIN_LEARNING_RATE = Gauge("crucible_train_learning_rate", "Learning rate at the last logged step.")
TRAIN_TOKENS_PER_SECOND = Gauge(
    "crucible_train_tokens_per_second", "Non-pad input tokens per second since the last progress report."
)
TRAIN_ETA_SECONDS = Gauge("crucible_train_eta_seconds", "Estimated seconds until the running job ends.")
TRAIN_JOBS = Counter("crucible_train_jobs_total", "Training jobs finished, by status.", ["status"])
