"""The synthesizer end to end on a real nats-server, a real registry and the real MiniLM, against
a local OpenAI-compatible endpoint: `dataset.ready` with deficits -> plan -> generation ->
validation -> review or auto-admission -> RecordBatches on crucible.records.raw."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from crucible.common import subjects
from crucible.common.config import load_policy
from crucible.common.registry import CuratedRecord, DatasetVersion
from crucible.common.runtime import Runtime
from crucible.common.serving import consume_events
from crucible.synthesizer.admission import decide, review_items
from crucible.synthesizer.conversation import generation_facts
from crucible.synthesizer.ledger import Ledger
from crucible.synthesizer.loopback import loopback_provider
from crucible.synthesizer.policy import SynthesizerPolicy
from crucible.synthesizer.service import SPEC
from crucible.synthesizer.synthesis import admit, generate, plan_latest, settle
from crucible.v1 import events_pb2, records_pb2
from tests.integration.bus_reading import batch_records, drain_messages

REAL_USER = (
    "My partner and I have not really talked in days and I feel lonely even when we are in the same room.",
    "We argued again about chores and I said things I regret. How do I apologise properly?",
    "I get anxious when my partner goes out without me and I don't want to be controlling.",
    "My girlfriend says I never listen. I think I do, but maybe I don't show it.",
    "We are thinking about moving in together but I am scared it will ruin what we have.",
    "Since my husband lost his job he is withdrawn and I don't know how to support him.",
)
REAL_COACH = (
    "That loneliness sounds heavy, and it's brave to name it. What do you miss most about how you used to talk?",
    "It's good that you want to repair this. A real apology names what you said and how it may have landed. "
    "What would you like them to hear from you?",
    "Noticing that worry is already a good step. When the anxiety comes up, what do you tell yourself?",
    "Feeling heard matters a lot in a relationship. One small thing to try: repeat back what they said "
    "before answering. How do you think they would react?",
    "It makes sense to feel both excited and nervous. What are you most afraid would change?",
    "Job loss can shake someone's sense of worth. Gentle curiosity often helps more than fixing. "
    "Could you ask him how he is really doing, without offering solutions at first?",
)
OFF_TOPIC = (
    "Preheat the oven to 200 degrees and grease a baking tray with butter.",
    "Whisk four eggs with sugar until pale, then fold in the sifted flour.",
    "Bake for twenty minutes until golden and let it cool on a wire rack.",
)


def real_record(i: int, category: str, off_topic: bool) -> records_pb2.Record:
    turns = []
    for k in range(3):
        if off_topic:
            turns += [("user", OFF_TOPIC[(i + k) % 3]), ("assistant", OFF_TOPIC[(i + k + 1) % 3])]
        else:
            turns += [("user", REAL_USER[(i + k) % 6]), ("assistant", REAL_COACH[(i + k) % 6])]
    return records_pb2.Record(
        record_id=f"real{i:04d}",
        subject_token=f"s{i}",
        category=category,
        turns=[records_pb2.Turn(role=r, text=t) for r, t in turns],
    )


def seed_store(rt: Runtime, *, off_topic: bool = False, deficits: dict[str, int] | None = None) -> str:
    """Real curated records and one dataset version whose manifest reports the deficits."""
    with rt.registry.session() as s:
        for i in range(40):
            rec = real_record(i, "empathetic_dialogue", off_topic)
            s.add(
                CuratedRecord(
                    record_id=rec.record_id,
                    subject_token=rec.subject_token,
                    source_table="conversations",
                    source_key=str(i),
                    kind="conversation",
                    category=rec.category,
                    synthetic=False,
                    record=rec.SerializeToString(),
                )
            )
    manifest: dict[str, Any] = {
        "version": "v1_20261204",
        "policy": {"synthetic_cap": 0.3},
        "counts": {"splits": {"train": {"total": 40, "synthetic": 0}}},
        "selection": {"category_mix": {c: {"deficit": n} for c, n in (deficits or {}).items()}},
        "audit": {"fairness_score": 90.0, "fairness_target": 85.0, "below_target": False, "dimensions": {}},
    }
    uri = rt.artifacts.write_json("datasets/v1_20261204/manifest.json", manifest)
    with rt.registry.session() as s:
        s.add(DatasetVersion(version="v1_20261204", seq=1, manifest_uri=uri, counts={}))
    return uri


@pytest.fixture
def provider() -> Iterator[str]:
    with loopback_provider(latency=0.01) as (url, _state):
        yield url


def make_runtime(settings: Any, url: str, **overrides: Any) -> Runtime:
    base = {
        "synthesizer.endpoints": [
            {"name": "down", "url": "http://127.0.0.1:9", "retries": 0, "timeout_seconds": 1.0},
            {"name": "local", "url": url, "model": "loopback", "rate_per_second": 500, "burst": 50},
        ],
        "synthesizer.on_dataset_ready": True,
    }
    policy = load_policy(None, section_models={"synthesizer": SynthesizerPolicy}, overrides=base | overrides)
    return Runtime.create(settings, policy=policy)


def test_dataset_ready_with_deficits_publishes_validated_synthetic_records(settings, embedded_nats, provider) -> None:
    rt = make_runtime(settings, provider, **{"synthesizer.review.auto_admit": True})
    manifest_uri = seed_store(rt, deficits={"empathetic_dialogue": 10})

    async def scenario() -> list[records_pb2.Record]:
        bus = await rt.connect(embedded_nats.url)
        task = asyncio.create_task(consume_events(rt, SPEC, asyncio.Event()))
        event = events_pb2.DatasetReady(dataset_version="v1_20261204", manifest_uri=manifest_uri)
        await bus.publish_event(subjects.DATASET_READY, event)
        plan = plan_latest(rt)
        assert plan is not None and len(plan.items) == 10
        deadline = time.monotonic() + 120
        while Ledger(rt.artifacts, plan.plan_id).read_state("admission") is None:
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        msgs = await drain_messages(bus, subjects.RAW, subjects.STREAM_RAW, "synth-test")
        await rt.close()
        return [r for m in msgs for r in batch_records(m)]

    records = asyncio.run(scenario())
    rt.registry.dispose()
    assert len(records) == 10 and len({r.record_id for r in records}) == 10
    for r in records:
        assert r.source.table == "synthetic" and r.kind == records_pb2.RECORD_KIND_CONVERSATION
        facts = generation_facts(r)
        assert facts["endpoint"] == "local" and facts["model"] == "loopback"  # after the dead endpoint
        assert facts["template"] == "scenario-v1+conversation-v1" and facts["plan"].startswith("plan-")


def test_records_wait_for_the_review_sample_and_a_rejection_refuses_the_plan(settings, embedded_nats, provider) -> None:
    rt = make_runtime(settings, provider, **{"synthesizer.review.sample_size": 3})
    seed_store(rt, deficits={"empathetic_dialogue": 8})

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], int]:
        await rt.connect(embedded_nats.url)
        plan = plan_latest(rt)
        assert plan is not None
        await generate(rt, plan)
        state = await settle(rt, plan.plan_id)
        assert state["status"] == "awaiting_review" and state["published"] == 0
        pending = review_items(rt.registry, "pending")
        assert len(pending) == 3
        assert (await admit(rt, plan.plan_id))["status"] == "awaiting_review"  # nothing decided yet
        for item in pending[:2]:
            decide(rt.registry, item["record_id"], "approved", "reviewer", "")
        decide(rt.registry, pending[2]["record_id"], "rejected", "reviewer", "coach takes sides")
        refused = await admit(rt, plan.plan_id)
        msgs = await drain_messages(rt.require_bus(), subjects.RAW, subjects.STREAM_RAW, "synth-test")
        await rt.close()
        return state, refused, len(msgs)

    _state, refused, published = asyncio.run(scenario())
    rt.registry.dispose()
    assert refused["status"] == "refused" and refused["review"] == {"approved": 2, "rejected": 1}
    assert published == 0


def test_an_approved_sample_admits_the_batch_once(settings, embedded_nats, provider) -> None:
    rt = make_runtime(settings, provider, **{"synthesizer.review.sample_size": 2})
    seed_store(rt, deficits={"empathetic_dialogue": 6})

    async def scenario() -> int:
        await rt.connect(embedded_nats.url)
        plan = plan_latest(rt)
        assert plan is not None
        await generate(rt, plan)
        await settle(rt, plan.plan_id)
        for item in review_items(rt.registry, "pending"):
            decide(rt.registry, item["record_id"], "approved", "reviewer", "")
        assert (await admit(rt, plan.plan_id))["status"] == "admitted"
        assert (await admit(rt, plan.plan_id))["published"] == 6  # a second admit publishes nothing more
        msgs = await drain_messages(rt.require_bus(), subjects.RAW, subjects.STREAM_RAW, "synth-test")
        await rt.close()
        return sum(len(batch_records(m)) for m in msgs)

    assert asyncio.run(scenario()) == 6
    rt.registry.dispose()


def test_a_batch_that_drifts_from_the_real_records_is_not_published(settings, embedded_nats, provider) -> None:
    rt = make_runtime(settings, provider, **{"synthesizer.review.auto_admit": True})
    seed_store(rt, off_topic=True, deficits={"empathetic_dialogue": 6})

    async def scenario() -> tuple[dict[str, Any], int]:
        await rt.connect(embedded_nats.url)
        plan = plan_latest(rt)
        assert plan is not None
        await generate(rt, plan)
        state = await settle(rt, plan.plan_id)
        msgs = await drain_messages(rt.require_bus(), subjects.RAW, subjects.STREAM_RAW, "synth-test")
        await rt.close()
        return state, len(msgs)

    state, published = asyncio.run(scenario())
    rt.registry.dispose()
    verdict = state["validation"]["empathetic_dialogue"]
    assert not verdict["passed"] and "centroid distance" in verdict["reasons"][0]
    assert state["rejected"] == {"distribution_drift": 6} and published == 0
