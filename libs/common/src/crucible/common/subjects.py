"""The one place that names NATS subjects, streams and durable consumers."""

from __future__ import annotations

PREFIX = "crucible"

RAW = f"{PREFIX}.records.raw"
SCRUBBED = f"{PREFIX}.records.scrubbed"
SCORED = f"{PREFIX}.records.scored"
CURATED = f"{PREFIX}.records.curated"

STREAM_RAW = "RAW"
STREAM_RECORDS = "RECORDS"
STREAM_DLQ = "DLQ"
STREAM_EVENTS = "EVENTS"

# Control-plane event names (the part after crucible.events.).
EXTRACT_REQUESTED = "extract.requested"
EXTRACT_COMPLETED = "extract.completed"
DATASET_READY = "dataset.ready"
TRAIN_REQUESTED = "train.requested"
TRAIN_PROGRESS = "train.progress"
MODEL_TRAINED = "model.trained"
MODEL_EVALUATED = "model.evaluated"
SUBJECT_FORGET = "subject.forget"
SUBJECT_OPTOUT = "subject.optout"
ROLLOUT_PREFIX = "rollout"


def records(suffix: str) -> str:
    """`records.raw` -> `crucible.records.raw`; a full subject is returned as is."""
    return suffix if suffix.startswith(PREFIX + ".") else f"{PREFIX}.{suffix}"


def dlq(stage: str) -> str:
    return f"{PREFIX}.dlq.{stage}"


def event(name: str) -> str:
    return f"{PREFIX}.events.{name}"


def rollout_event(state: str) -> str:
    return event(f"{ROLLOUT_PREFIX}.{state}")


def durable(stage: str) -> str:
    """Durable consumer name shared by every replica of a stage."""
    return f"crucible-{stage}"


# Durable consumers of control-plane events (stream EVENTS), named in the services'
# `ServiceSpec.events` and in the chart's NATS permissions (a test holds the two together).
# A renamed durable is a new consumer that starts from the stream's first event again.
EXTRACTOR_REQUESTS = durable("extractor")  # extract.requested
DATASET_FORGET = durable("dataset-forget")  # subject.forget
DEDUP_FORGET = durable("dedup-forget")  # subject.forget (the worker's in-memory index)
TRAINER_REQUESTS = durable("trainer")  # train.requested
TRAINER_AUTO = durable("trainer-auto")  # dataset.ready, when the policy trains on it
EVALUATOR_TRAINED = durable("evaluator")  # model.trained
GATEWAY_EVALUATED = durable("gateway")  # model.evaluated
SYNTHESIZER_READY = durable("synthesizer")  # dataset.ready, when the policy plans on it


def stream_for(subject: str) -> str:
    if subject == RAW:
        return STREAM_RAW
    if subject.startswith(f"{PREFIX}.records."):
        return STREAM_RECORDS
    if subject.startswith(f"{PREFIX}.dlq."):
        return STREAM_DLQ
    if subject.startswith(f"{PREFIX}.events."):
        return STREAM_EVENTS
    raise ValueError(f"no stream carries subject {subject!r}")
