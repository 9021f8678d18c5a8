"""The dataset stage core: validate and normalise curated records before they enter the store.

Pure: records in, kept records and rejections with reasons out. The sink (store.py) upserts
what is kept; nothing is published downstream.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence

from crucible.common.stage import Rejection, StageResult
from crucible.dataset import __version__
from crucible.v1 import records_pb2

_CATEGORY_SEPARATORS = re.compile(r"[\s\-/]+")


def normalise_category(raw: str) -> str:
    """`Empathetic Dialogue` / `empathetic-dialogue` -> `empathetic_dialogue`."""
    return _CATEGORY_SEPARATORS.sub("_", raw.strip().lower())


def has_reply(record: records_pb2.Record) -> bool:
    """A training example needs a user turn followed, later, by a non-empty assistant turn."""
    seen_user = False
    for turn in record.turns:
        if turn.role in ("user", "partner") and turn.text.strip():
            seen_user = True
        elif turn.role == "assistant" and turn.text.strip() and seen_user:
            return True
    return False


class DatasetIntake:
    """Stage `dataset`: checks that a curated record can become a training example."""

    name = "dataset"
    version = __version__

    def __init__(self, categories: Collection[str]) -> None:
        self.categories = frozenset(categories)

    def process(self, batch: Sequence[records_pb2.Record]) -> StageResult:
        result = StageResult()
        for record in batch:
            problem = self._problem(record)
            if problem is not None:
                reason, detail, dlq = problem
                result.rejected.append(Rejection(record, reason, detail, dlq=dlq))
                continue
            result.kept.append(normalise_record(record))
        return result

    def _problem(self, record: records_pb2.Record) -> tuple[str, str, bool] | None:
        if not record.record_id:
            return "missing_record_id", "a curated record needs its stable record_id", True
        if record.private_context:
            # Raw-only identifying context reached the curated stream: a scrubber bug, a person must look.
            return "private_context_present", "private_context must be cleared by the scrubber", True
        if not record.subject_token:
            return "missing_subject_token", "without a subject token the record could never be forgotten", True
        category = normalise_category(record.category)
        if category not in self.categories:
            allowed = ", ".join(sorted(self.categories))
            return "unknown_category", f"category {record.category!r} is not one of: {allowed}", False
        total = record.quality.total
        if math.isnan(total) or not (0.0 <= total <= 10.0):
            return "invalid_quality", f"quality {total!r} is outside 0..10", False
        if not has_reply(record):
            return "no_assistant_reply", "no user turn followed by a non-empty assistant turn", False
        return None


def normalise_record(record: records_pb2.Record) -> records_pb2.Record:
    """A copy with a canonical category, trimmed turns, the language filled from context and a
    cluster id (a record the dedup stage saw alone is its own cluster)."""
    out = records_pb2.Record()
    out.CopyFrom(record)
    out.category = normalise_category(record.category)
    for turn in out.turns:
        stripped = turn.text.strip()
        if stripped != turn.text:
            turn.text = stripped
    if not out.language and out.context.get("language"):
        out.language = out.context["language"].strip().lower()
    if not out.dedup.cluster_id:
        out.dedup.cluster_id = out.record_id
    return out
