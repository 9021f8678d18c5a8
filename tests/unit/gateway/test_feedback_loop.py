"""The gateway's half of the feedback loop (issues 18 and 25): signed response ids, interaction
records published off the request path (never opted-out or guarded ones), feedback counted once,
rate-limited, stored and turned into a feedback record for the scorer."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import httpx
import pytest

from crucible.common.feedback import FeedbackRow
from crucible.common.registry import Registry
from crucible.gateway.client_auth import ClientAuth
from crucible.gateway.feedback_desk import FeedbackInput, TokenBuckets
from crucible.gateway.interactions import FEEDBACK_UPDATE, InteractionLog, interaction_record_id, subject_token
from crucible.gateway.policy import FeedbackPolicy, GatewayPolicy, InteractionPolicy
from crucible.gateway.response_ids import EXPIRED, FORGED, GUARDED, MALFORMED, ResponseIds
from crucible.v1 import gateway_pb2, gateway_pb2_grpc, records_pb2

SECRET = b"subject-secret"


def test_a_signed_id_verifies_and_any_change_is_forged() -> None:
    now = [1_000_000.0]
    ids = ResponseIds(b"k" * 32, ttl_seconds=60, clock=lambda: now[0])
    rid = ids.mint("r-1", 2, "canary", published=True)
    issued = ids.verify(rid)
    assert not isinstance(issued, str)
    assert (issued.rollout_id, issued.stage_index, issued.variant, issued.published) == ("r-1", 2, "canary", True)
    flipped = rid.replace(".c", ".s", 1)  # claim the stable variant
    assert ids.verify(flipped) == FORGED
    assert ids.verify(ResponseIds(b"x" * 32, 60).mint("r-1", 2, "canary")) == FORGED  # another gateway's key
    assert ids.verify("r-1.2.c.0123456789abcdef") == MALFORMED  # the old unsigned shape
    assert ids.verify("none.0.g.0123456789abcdef") == GUARDED
    now[0] += 61
    assert ids.verify(rid) == EXPIRED


def test_token_buckets_limit_each_caller_on_its_own() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=1.0, burst=3, clock=lambda: now[0])
    assert [buckets.allow("a") for _ in range(4)] == [True, True, True, False]
    assert buckets.allow("b")  # another caller has its own bucket
    now[0] += 1.0
    assert buckets.allow("a") and not buckets.allow("a")


class Captured:
    def __init__(self) -> None:
        self.records: list[records_pb2.Record] = []

    async def __call__(self, records: list[records_pb2.Record]) -> None:
        self.records.extend(records)


def _enable(stack: Any, captured: Captured, **policy: Any) -> InteractionLog:
    log = InteractionLog(InteractionPolicy(enabled=True, **policy), captured, SECRET)
    stack.router.interactions = log
    stack.router.desk.subject_secret = SECRET
    return log


def test_served_exchanges_are_published_but_never_opted_out_or_guarded(stack, loop_thread) -> None:
    captured = Captured()
    log = _enable(stack, captured, feedback_settle_seconds=0.0)
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        kept = http.post("/generate", json={"inputs": "How do we argue less?"}, headers={"x-crucible-user": "u-7"})
        http.post("/generate", json={"inputs": "private one"}, headers={"x-crucible-no-log": "1"})
        http.post("/generate", json={"inputs": "private two", "no_log": True})
        chat = http.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "private three"}], "max_tokens": 4, "no_log": True},
        )
        assert chat.status_code == 200  # the opt-out field is not an unknown OpenAI field
        guarded = http.post("/generate", json={"inputs": "I want to kill myself tonight"})
        assert guarded.headers["x-crucible-variant"] == "guard"
    with grpc.insecure_channel(stack.running.grpc_address) as channel:
        stub = gateway_pb2_grpc.ModelGatewayStub(channel)
        stub.Generate(gateway_pb2.GenerateRequest(inputs="private four", no_log=True))
        stub.Generate(gateway_pb2.GenerateRequest(inputs="private five"), metadata=(("x-crucible-no-log", "true"),))
        by_grpc = stub.Generate(gateway_pb2.GenerateRequest(inputs="Plan a date?", user_id="u-8"))
    loop_thread.run(log.flush())
    prompts = {r.turns[0].text: r for r in captured.records}
    assert set(prompts) == {"How do we argue less?", "Plan a date?"}
    rec = prompts["How do we argue less?"]
    rid = kept.headers["x-crucible-response-id"]
    assert rec.record_id == interaction_record_id(rid) and rec.source.key == rid
    assert rec.kind == records_pb2.RECORD_KIND_INTERACTION
    assert [t.role for t in rec.turns] == ["user", "assistant"] and rec.turns[1].text == kept.json()["generated_text"]
    assert rec.context["variant"] == "stable" and rec.context["model"] == "base"
    assert float(rec.context["latency_ms"]) >= 0.0
    assert rec.subject_token == subject_token(SECRET, "u-7") and "u-7" not in rec.SerializeToString().decode("latin1")
    assert prompts["Plan a date?"].source.key == by_grpc.response_id


def test_sampling_and_the_off_switch(stack, loop_thread) -> None:
    captured = Captured()
    _enable(stack, captured, sample_rate=0.0)
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        for _ in range(5):
            http.post("/generate", json={"inputs": "hello"})
    stack.router.interactions = InteractionLog(InteractionPolicy(enabled=False), captured, SECRET)
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        http.post("/generate", json={"inputs": "hello"})
    loop_thread.run(stack.router.interactions.flush())
    assert captured.records == []


def test_feedback_counts_once_and_forged_ids_are_refused(stack, loop_thread) -> None:
    captured = Captured()
    log = _enable(stack, captured, feedback_settle_seconds=0.0)
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        rid = http.post("/generate", json={"inputs": "hi there"}).headers["x-crucible-response-id"]
        body = {"response_id": rid, "rating": 9, "advice_accepted": True, "text": "thanks!", "positive_outcome": True}
        assert http.post("/feedback", json=body).json() == {"accepted": True}
        assert http.post("/feedback", json=body).json() == {"accepted": False, "reason": "duplicate"}
        forged = rid[:-1] + ("0" if rid[-1] != "0" else "1")
        assert http.post("/feedback", json={**body, "response_id": forged}).json()["reason"] == "forged"
        unsigned = "none.0.s.0123456789abcdef"
        assert http.post("/feedback", json={**body, "response_id": unsigned}).json()["reason"] == "malformed"
        metrics = http.get("/metrics").text
    assert 'crucible_gateway_feedback_total{outcome="duplicate"}' in metrics
    loop_thread.run(log.flush())
    (update,) = [r for r in captured.records if FEEDBACK_UPDATE in r.context]
    assert update.context[FEEDBACK_UPDATE] == interaction_record_id(rid)
    assert update.signals.satisfaction == 9.0 and update.signals.action_taken and update.signals.positive_outcome
    assert [t.text for t in update.turns] == ["thanks!"]


def test_feedback_on_an_unpublished_exchange_counts_but_publishes_nothing(stack, loop_thread) -> None:
    captured = Captured()
    log = _enable(stack, captured, feedback_settle_seconds=0.0)
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        rid = http.post("/generate", json={"inputs": "hi"}, headers={"x-crucible-no-log": "1"}).headers[
            "x-crucible-response-id"
        ]
        assert http.post("/feedback", json={"response_id": rid, "rating": 3, "text": "meh"}).json()["accepted"]
    loop_thread.run(log.flush())
    assert captured.records == []  # the feedback text has no scrubbed exchange to ride on: dropped


def test_feedback_is_stored_once_across_replicas(tmp_path) -> None:
    """Two gateways with the same secret and registry: the second desk refuses what the first took."""
    from crucible.gateway.router import Router
    from crucible.gateway.store import MemoryStore

    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    registry.migrate()
    routers = [Router(GatewayPolicy(), MemoryStore()) for _ in range(2)]
    for r in routers:
        r.ids = ResponseIds(b"shared" * 6, 3600)
        r.desk.registry = registry
        r.desk.subject_secret = SECRET
    rid = routers[0].ids.mint("", 0, "stable")

    async def both() -> list[bool]:
        fb = FeedbackInput(rid, 7, advice_accepted=True, text="ok", user_id="u-1")
        return [(await r.desk.submit(fb, "ip:1")).accepted for r in routers]

    assert asyncio.run(both()) == [True, False]
    with registry.session() as s:
        (row,) = s.query(FeedbackRow).all()
        assert (row.rating, row.advice_accepted, row.variant, row.text_chars) == (7, True, "stable", 2)
        assert row.subject_token == subject_token(SECRET, "u-1") and row.record_id == ""
    from crucible.common.feedback import forget_feedback

    assert forget_feedback(registry, subject_token(SECRET, "u-1")) == 1
    registry.dispose()


def test_rate_limit_and_client_tokens(new_stack, loop_thread) -> None:
    policy = GatewayPolicy(
        feedback=FeedbackPolicy(
            rate_per_second=0.001, burst=2, require_client_token=True, require_client_token_for_generation=True
        )
    )
    stack = loop_thread.run(new_stack(policy=policy, admin_token="adm", clients=ClientAuth({"app": "s3cret"})))
    try:
        good = {"authorization": "Bearer s3cret"}
        with httpx.Client(base_url=stack.url, timeout=10) as http:
            assert http.post("/generate", json={"inputs": "hi"}).status_code == 401
            assert (
                http.post("/generate", json={"inputs": "hi"}, headers={"authorization": "Bearer nope"}).status_code
                == 401
            )
            rids = [
                http.post("/generate", json={"inputs": "hi"}, headers=good).headers["x-crucible-response-id"]
                for _ in range(3)
            ]
            anonymous = http.post("/feedback", json={"response_id": rids[0], "rating": 8})
            assert anonymous.status_code == 401 and anonymous.json()["reason"] == "unauthenticated"
            answers = [http.post("/feedback", json={"response_id": r, "rating": 8}, headers=good) for r in rids]
            assert [a.status_code for a in answers] == [200, 200, 429]
            assert answers[2].json() == {"accepted": False, "reason": "rate_limited"}
            # /rollout: figures for anyone, the rollout id only with the admin token
            assert "rollout_id" not in http.get("/rollout").json()
            assert "rollout_id" in http.get("/rollout", headers={"authorization": "Bearer adm"}).json()
        with grpc.insecure_channel(stack.running.grpc_address) as channel:
            stub = gateway_pb2_grpc.ModelGatewayStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.Generate(gateway_pb2.GenerateRequest(inputs="hi"))
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            out = stub.Generate(
                gateway_pb2.GenerateRequest(inputs="hi"), metadata=(("authorization", "Bearer s3cret"),)
            )
            assert out.generated_text
    finally:
        loop_thread.run(stack.stop())


def test_the_canary_analysis_rolls_back_on_an_advice_acceptance_drop() -> None:
    from crucible.gateway.decision import HOLD, ROLLBACK, rollout_decision
    from crucible.gateway.figures import Summary

    stable = Summary(requests=500, feedback_count=100, mean_satisfaction=8.0, advice_acceptance=0.70)
    policy = GatewayPolicy(stage_duration_seconds=100)

    def decide(acceptance: float) -> Any:
        canary = Summary(requests=100, feedback_count=20, mean_satisfaction=8.0, advice_acceptance=acceptance)
        return rollout_decision(
            stable=stable, canary=canary, stage_index=0, stage_count=4, stage_elapsed_seconds=1, policy=policy
        )

    assert decide(0.45).action == ROLLBACK and "advice acceptance" in decide(0.45).reason
    assert decide(0.55).action == HOLD  # 15 points lower: within the default 20


def test_rollout_status_shows_the_ab_figures(stack, loop_thread, capsys) -> None:
    from crucible.gateway.cli import _print_status
    from crucible.gateway.state import BackendSpec

    loop_thread.run(stack.rollout.start_rollout(BackendSpec(model="cand", url=stack.canary.url)))
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        for i in range(40):
            r = http.post("/generate", json={"inputs": "hi"}, headers={"x-crucible-user": f"u{i}"})
            if i % 2 == 0:
                fb = {"response_id": r.headers["x-crucible-response-id"], "rating": 8, "advice_accepted": i % 4 == 0}
                assert http.post("/feedback", json={**fb, "positive_outcome": i % 8 == 0}).json()["accepted"]
    loop_thread.run(stack.router.flush_figures())
    status = loop_thread.run(stack.rollout.status())
    both = {f["variant"]: f for f in status["figures"]}
    total_ratings = sum(f["feedback_count"] for f in both.values())
    assert total_ratings == 20
    for f in both.values():
        if f["feedback_count"]:
            assert 0.0 <= f["advice_acceptance"] <= 1.0 and f["outcome_reports"] == f["feedback_count"]
            assert f["feedback_rate"] == pytest.approx(f["feedback_count"] / f["requests"])
    accepted = sum(f["advice_acceptance"] * f["feedback_count"] for f in both.values())
    assert round(accepted) == 10
    _print_status(status, as_json=False)
    out = capsys.readouterr().out
    assert "advice%" in out and "fb/req%" in out and "outcome+%" in out


def test_the_service_wires_the_shared_secret_store_and_publisher() -> None:
    """`crucible serve gateway`'s wiring: ids signed with the configured secret verify on another
    router configured alike; the desk stores to the runtime's registry; publishing only when on."""
    import tempfile
    from pathlib import Path

    from crucible.common.config import Settings, load_policy
    from crucible.common.runtime import Runtime
    from crucible.gateway.policy import GatewaySettings
    from crucible.gateway.router import Router
    from crucible.gateway.service import wire_feedback_loop
    from crucible.gateway.store import MemoryStore

    with tempfile.TemporaryDirectory() as home:
        runtime = Runtime.create(
            Settings(home=Path(home), subject_secret="s", log_json=False), policy=load_policy(None, {})
        )
        settings = GatewaySettings(response_secret="shared", client_tokens="app=t1,console=t2")

        async def wire(enabled: bool) -> tuple[Router, Any]:
            router = Router(GatewayPolicy(interactions=InteractionPolicy(enabled=enabled)), MemoryStore())
            clients = wire_feedback_loop(router, runtime, settings, bus=object())
            if router.interactions is not None:
                await router.interactions.close()
            return router, clients

        on, clients = asyncio.run(wire(True))
        off, _ = asyncio.run(wire(False))
        assert on.interactions is not None and off.interactions is None
        assert not isinstance(off.ids.verify(on.ids.mint("r", 0, "canary")), str)
        assert on.desk.registry is runtime.registry and on.desk.subject_secret == b"s"
        assert clients.client_of("Bearer t2") == "console" and clients.client_of("Bearer t3") is None
        runtime.registry.dispose()
