"""Late feedback on a gateway interaction, merged into the interaction before it is scored again.

The gateway publishes feedback on a published exchange as a record of kind `interaction` whose
context `feedback_update` names the exchange's record id; it passes the scrubber like any record
(its turn is the feedback text, so the text is scrubbed). Here it becomes the exchange itself
(same record id, the scrubbed prompt and answer from wherever the exchange rests: the same batch,
the curated store, the scorer's rejections or the review queue) with the feedback's signals
(rating -> satisfaction, advice accepted -> action taken, positive outcome) and the scrubbed
feedback text in context `feedback_text`; the scorer core then scores it as usual, so the
satisfaction and outcome components count, and dedup and the dataset upsert it by record id.

Exactly once under redelivery: the merge *sets* the signals (never adds), and the gateway sends
one feedback record per response id, so scoring the same update twice gives the same record and
the same score. The merged record carries context `revision` = "feedback", so its message ids
differ from the first version's (`crucible.common.worker.output_msg_id`).

An update whose exchange is nowhere (not through the pipeline yet, or forgotten) is rejected with
`feedback_without_interaction` (kept with the other rejections, and the rating stays in the
gateway's feedback table).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from crucible.common.stage import Rejection, Stage, StageResult
from crucible.v1 import records_pb2

FEEDBACK_UPDATE = "feedback_update"
FEEDBACK_TEXT = "feedback_text"
FEEDBACK_SPEAKER = "feedback"
REVISION = "revision"
NO_INTERACTION = "feedback_without_interaction"

# record ids -> the stored (scrubbed) records found for them
Lookup = Callable[[list[str]], dict[str, records_pb2.Record]]


def is_feedback_update(record: records_pb2.Record) -> bool:
    return record.kind == records_pb2.RECORD_KIND_INTERACTION and FEEDBACK_UPDATE in record.context


def merge_feedback(base: records_pb2.Record, update: records_pb2.Record) -> records_pb2.Record:
    """The exchange with the feedback's signals and scrubbed text (pure; the same inputs give the same record)."""
    merged = records_pb2.Record()
    merged.CopyFrom(base)
    merged.signals.CopyFrom(update.signals)
    text = "\n".join(t.text for t in update.turns if t.speaker == FEEDBACK_SPEAKER and t.text)
    if text:
        merged.context[FEEDBACK_TEXT] = text
    merged.context[REVISION] = "feedback"
    for placeholder, count in update.redactions.items():
        merged.redactions[f"feedback.{placeholder}"] = count
    if not merged.subject_token:
        merged.subject_token = update.subject_token
    return merged


@dataclass
class FeedbackMergingStage:
    """The scorer core behind the merge: updates become their exchanges, everything else passes."""

    inner: Stage
    lookup: Lookup

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def version(self) -> str:
        return self.inner.version

    def __getattr__(self, attr: str) -> object:
        # Reads of the core's own attributes (policy, distribution, timings) go to the core.
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def process(self, batch: Sequence[records_pb2.Record]) -> StageResult:
        updates = [r for r in batch if is_feedback_update(r)]
        if not updates:
            return self.inner.process(batch)
        plain = [r for r in batch if not is_feedback_update(r)]
        in_batch = {r.record_id: r for r in plain}
        wanted = sorted({u.context[FEEDBACK_UPDATE] for u in updates} - set(in_batch))
        stored = self.lookup(wanted) if wanted else {}
        merged: dict[str, records_pb2.Record] = {}
        missing: list[Rejection] = []
        for update in updates:
            base_id = update.context[FEEDBACK_UPDATE]
            base = merged.get(base_id) or in_batch.get(base_id) or stored.get(base_id)
            if base is None:
                missing.append(Rejection(update, NO_INTERACTION, f"interaction {base_id} not found in any store"))
                continue
            merged[base_id] = merge_feedback(base, update)
        # An exchange and its feedback in one batch: only the merged version is scored.
        work = [merged.pop(r.record_id, r) for r in plain] + list(merged.values())
        result = self.inner.process(work) if work else StageResult()
        result.rejected.extend(missing)
        return result


def registry_lookup(registry: object) -> Lookup:
    """Find scrubbed interaction records by id: the curated store first (the newest stage), then the
    scorer's rejections, then the review queue."""
    from sqlalchemy import select

    from crucible.common.registry import CuratedRecord, Registry, RejectionRow, ReviewItem

    assert isinstance(registry, Registry)

    def lookup(record_ids: list[str]) -> dict[str, records_pb2.Record]:
        found: dict[str, bytes] = {}
        with registry.session() as s:
            for rid, blob in s.execute(
                select(ReviewItem.record_id, ReviewItem.record).where(ReviewItem.record_id.in_(record_ids))
            ):
                found[rid] = blob
            for rid, blob in s.execute(
                select(RejectionRow.record_id, RejectionRow.record).where(
                    RejectionRow.record_id.in_(record_ids), RejectionRow.stage == "scorer"
                )
            ):
                if blob:
                    found[rid] = blob
            for rid, blob in s.execute(
                select(CuratedRecord.record_id, CuratedRecord.record).where(CuratedRecord.record_id.in_(record_ids))
            ):
                found[rid] = blob
        return {rid: records_pb2.Record.FromString(blob) for rid, blob in found.items()}

    return lookup
