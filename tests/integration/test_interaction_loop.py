"""Issue 18 end to end on a real nats-server: the gateway publishes served exchanges as `interaction`
records on crucible.records.raw; they pass the real scrubber, scorer (with the feedback merge), dedup
and dataset workers; planted names, emails and phone numbers in prompts and in feedback text never
reach the curated store (nor the scorer's rejections or review queue); an opted-out exchange is
never published; late feedback changes the curated record's score exactly once, even when its
feedback record is delivered again; `feedback_examples` joins the stored rating to the scrubbed
exchange."""

from __future__ import annotations

import asyncio
import contextvars
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from crucible.common import subjects
from crucible.common.artifacts import ArtifactStore
from crucible.common.feedback import feedback_examples
from crucible.common.registry import CuratedRecord, RejectionRow, ReviewItem
from crucible.common.worker import StageWorker
from crucible.gateway.fake_backend import FakeBackend, FakeBehaviour
from crucible.gateway.feedback_desk import FeedbackInput
from crucible.gateway.interactions import OPT_OUT, InteractionLog, bus_record_publisher, feedback_record
from crucible.gateway.policy import GatewayPolicy, InteractionPolicy
from crucible.gateway.rollout import RolloutController
from crucible.gateway.router import Router
from crucible.gateway.state import BackendSpec
from crucible.gateway.store import MemoryStore
from crucible.v1 import records_pb2

PLANTED = {
    "Jennifer Morales": "jen.morales@example.com",
    "Marcus Whitfield": "marcus.w@example.net",
    "Priya Raman": "priya.raman@example.org",
}
PHONE = "415-555-0134"
FEEDBACK_EMAIL = "dave.k@example.org"
ANSWER = (
    "It makes sense that you feel unheard. Pick a calm moment tonight, tell your partner what you need, "
    "and ask how their week has been too."
)


@pytest.fixture(scope="module")
def scorer_models():
    from crucible.scorer.models import load_models
    from crucible.scorer.policy import ScorerPolicy
    from crucible.scorer.training import inputs_digest

    root = Path(tempfile.gettempdir()) / f"crucible-scorer-test-models-{inputs_digest()[:16]}"
    return load_models(ArtifactStore(root.as_uri()), ScorerPolicy(), train_if_missing=True)


def _workers(runtime, bus, scorer_models) -> list[StageWorker]:
    from crucible.dataset.service import SPEC as DATASET
    from crucible.dedup.service import SPEC as DEDUP
    from crucible.scorer.core import ScorerStage
    from crucible.scorer.feedback_merge import FeedbackMergingStage, registry_lookup
    from crucible.scorer.policy import ScorerPolicy
    from crucible.scorer.store import ScorerSink
    from crucible.scrubber.service import SPEC as SCRUBBER

    scrub = SCRUBBER.build_stage(runtime)
    scorer = FeedbackMergingStage(
        ScorerStage(ScorerPolicy(threshold=1.0, review_margin=0.0), scorer_models), registry_lookup(runtime.registry)
    )
    dedup, dataset = DEDUP.build_stage(runtime), DATASET.build_stage(runtime)
    return [
        StageWorker(scrub.stage, bus, consumes="records.raw", produces="records.scrubbed", sink=scrub.sink),
        StageWorker(
            scorer, bus, consumes="records.scrubbed", produces="records.scored", sink=ScorerSink(runtime.registry)
        ),
        StageWorker(dedup.stage, bus, consumes="records.scored", produces="records.curated", sink=dedup.sink),
        StageWorker(dataset.stage, bus, consumes="records.curated", produces=None, sink=dataset.sink),
    ]


async def _wait(predicate, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def _curated(runtime) -> dict[str, records_pb2.Record]:
    with runtime.registry.session() as s:
        rows = s.execute(select(CuratedRecord.record_id, CuratedRecord.record)).all()
    return {rid: records_pb2.Record.FromString(blob) for rid, blob in rows}


def _every_stored_blob(runtime) -> list[bytes]:
    with runtime.registry.session() as s:
        blobs = list(s.scalars(select(CuratedRecord.record)))
        blobs += [b for b in s.scalars(select(RejectionRow.record)) if b]
        blobs += list(s.scalars(select(ReviewItem.record)))
    return blobs


def test_interactions_and_late_feedback_through_the_pipeline(embedded_nats, runtime, scorer_models) -> None:
    async def scenario() -> None:
        bus = await runtime.connect(embedded_nats.url)
        workers = _workers(runtime, bus, scorer_models)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(w.run(stop)) for w in workers]
        backend = await FakeBackend(FakeBehaviour(delay_seconds=0.0, text=ANSWER, tokens=24)).start()
        policy = GatewayPolicy(
            interactions=InteractionPolicy(enabled=True, flush_seconds=0.05, feedback_settle_seconds=0)
        )
        router = Router(policy, MemoryStore())
        router.interactions = InteractionLog(policy.interactions, bus_record_publisher(bus), runtime.subject_secret())
        router.desk.registry, router.desk.subject_secret = runtime.registry, runtime.subject_secret()
        await router.start()
        router.interactions.start()
        await RolloutController(router).configure_stable(BackendSpec(model="base", url=backend.url))
        try:
            served = []
            for i, (name, email) in enumerate(PLANTED.items()):
                prompt = f"My partner {name} ({email}, {PHONE}) says I never listen when we talk about chores {i}."
                served.append(await router.generate(prompt, {"max_new_tokens": 24}, f"user-{i}"))

            async def opted_out() -> None:
                OPT_OUT.set(True)
                await router.generate("Opted out: please never keep this one.", {"max_new_tokens": 8}, "user-x")

            await asyncio.create_task(opted_out(), context=contextvars.copy_context())
            published = [s for s in served if s.route.published]
            assert len(published) == len(PLANTED)
            await _wait(lambda: len(_curated(runtime)) == len(PLANTED), "the interactions in the curated store")
            before = _curated(runtime)
            first_id = next(iter(before))
            rid = before[first_id].source.key
            assert before[first_id].quality.components["engagement.satisfaction"] == 0.0

            verdict = await router.desk.submit(
                FeedbackInput(
                    rid, 9, advice_accepted=True, positive_outcome=True, user_id="user-0",
                    text=f"That worked! Write to me at {FEEDBACK_EMAIL}, Dave Kowalski",
                ),
                "ip:test",
            )  # fmt: skip
            assert verdict.accepted
            await _wait(lambda: _curated(runtime)[first_id].signals.satisfaction == 9.0, "the merged feedback")
            merged = _curated(runtime)[first_id]
            gained = merged.quality.total - before[first_id].quality.total
            assert gained > 0 and merged.quality.components["outcome.action_taken"] > 0

            # The feedback record delivered again past JetStream's duplicate window (after a nats-server
            # restart, say): scrubbed again and handed to the scorer under a new message id.
            again = feedback_record(
                rid, rating=9, advice_accepted=True, positive_outcome=True, action_taken=None,
                text=f"That worked! Write to me at {FEEDBACK_EMAIL}, Dave Kowalski", user_id="user-0",
                secret=runtime.subject_secret(),
            )  # fmt: skip
            again.extraction.run_id = runtime.run_id
            (scrubbed,) = workers[0].stage.process([again]).kept
            scored_before = workers[1].stats.kept
            await bus.publish(
                subjects.SCRUBBED, records_pb2.RecordBatch(records=[scrubbed]).SerializeToString(), msg_id="again"
            )
            await _wait(lambda: workers[1].stats.kept > scored_before, "the scorer to merge the feedback again")
            await asyncio.sleep(1.0)  # what it published (if anything got through) reaches the store
            after = _curated(runtime)
            assert len(after) == len(PLANTED)
            assert after[first_id].quality.total == merged.quality.total  # changed exactly once

            planted = [*PLANTED, *PLANTED.values(), PHONE, FEEDBACK_EMAIL, "Dave Kowalski", "user-0"]
            planted += [p.split()[0] for p in PLANTED]
            for blob in _every_stored_blob(runtime):
                text = blob.decode("utf-8", "replace").lower()
                assert not [p for p in planted if p.lower() in text]
            assert not any("Opted out" in r.turns[0].text for r in after.values())

            (example,) = feedback_examples(runtime.registry)
            assert (example.rating, example.advice_accepted, example.positive_outcome) == (9, True, True)
            assert example.record_id == first_id and example.where == "curated" and example.answer == ANSWER
            assert "[" in example.prompt and "chores" in example.prompt  # scrubbed, placeholders in
            assert FEEDBACK_EMAIL not in example.feedback_text and "That worked!" in example.feedback_text
            assert example.subject_token and example.variant == "stable" and example.model == "base"
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await router.close()
            await backend.stop()
            await bus.close()

    asyncio.run(scenario())
