"""The fallback chain against real HTTP endpoints (the loopback OpenAI-compatible server)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from crucible.common.artifacts import ArtifactStore
from crucible.synthesizer.chain import ChainExhausted, FallbackChain
from crucible.synthesizer.generate import run_plan
from crucible.synthesizer.ledger import Ledger
from crucible.synthesizer.loopback import loopback_provider
from crucible.synthesizer.plan import manual_plan
from crucible.synthesizer.policy import EndpointPolicy, SynthesizerPolicy
from crucible.synthesizer.resilience import CLOSED, OPEN
from crucible.synthesizer.templates import load_templates

HANG = 8.0  # seconds a "timeout" fault makes the endpoint wait (past the client's 3 s)
MESSAGES = [{"role": "user", "content": "Write one realistic situation, please."}]
PARAMS = {"temperature": 0.9, "top_p": 0.95, "seed": 3, "max_new_tokens": 64}


def endpoint(name: str, url: str, **kw: object) -> EndpointPolicy:
    base = {
        "name": name,
        "url": url,
        "model": "m-" + name,
        "retries": 1,
        "backoff_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        # Long enough for a loaded CI machine; the timeout faults hang well past it.
        "timeout_seconds": 3.0,
        "rate_per_second": 1000.0,
        "burst": 100,
    }
    return EndpointPolicy(**(base | kw))  # type: ignore[arg-type]


async def _generate(eps: list[EndpointPolicy]) -> tuple[object, FallbackChain]:
    async with FallbackChain(eps, rng=random.Random(1)) as chain:
        result = await chain.generate(MESSAGES, PARAMS)
        return result, chain


@pytest.mark.parametrize("fault", ["http_500", "rate_limited", "timeout", "garbage"])
def test_fallback_completes_on_the_next_provider(fault: str) -> None:
    with (
        loopback_provider(always=fault, retry_after=0.02, hang=HANG) as (bad_url, bad),
        loopback_provider() as (good_url, good),
    ):
        # The hung endpoint never answers inside HANG, so its client may give up after 1 s instead of
        # 3 (two tries): the same timeout, less waiting. The others keep the margin for a loaded machine.
        hung = {"timeout_seconds": 1.0} if fault == "timeout" else {}
        primary = endpoint("primary", bad_url, **hung)
        result, chain = asyncio.run(_generate([primary, endpoint("backup", good_url)]))
    assert result.endpoint == "backup" and result.model == "m-backup"  # type: ignore[attr-defined]
    assert "realistic" not in result.completion.text and result.completion.text  # type: ignore[attr-defined]
    usage = chain.usage()
    assert usage["primary"]["requests"] == 2 and usage["primary"]["successes"] == 0  # one try + one retry
    assert sum(usage["primary"]["failures"].values()) == 2
    assert usage["backup"]["successes"] == 1 and usage["backup"]["completion_tokens"] > 0
    assert [s.outcome for s in bad.log] == [fault, fault]
    assert [s.outcome for s in good.log] == ["ok"]


def test_retry_after_is_honoured_before_the_retry_on_the_same_provider() -> None:
    with loopback_provider(faults=["rate_limited"], retry_after=0.3) as (url, state):
        started = time.monotonic()
        result, chain = asyncio.run(_generate([endpoint("only", url, backoff_max_seconds=1.0)]))
        waited = time.monotonic() - started
    assert result.endpoint == "only"  # type: ignore[attr-defined]
    assert [s.outcome for s in state.log] == ["rate_limited", "ok"]
    assert waited >= 0.3  # a lower bound the server asked for, not a timing assertion on our speed
    assert chain.usage()["only"]["failures"] == {"rate_limited": 1}


def test_a_retry_after_longer_than_the_backoff_cap_moves_on_at_once() -> None:
    with (
        loopback_provider(always="rate_limited", retry_after=60) as (bad_url, bad),
        loopback_provider() as (good_url, _),
    ):
        result, _chain = asyncio.run(_generate([endpoint("primary", bad_url), endpoint("backup", good_url)]))
    assert result.endpoint == "backup"  # type: ignore[attr-defined]
    assert len(bad.log) == 1  # no retry on the same provider


def test_a_client_error_is_not_retried_on_the_same_provider() -> None:
    async def go(url: str) -> None:
        async with FallbackChain([endpoint("p", url)]) as chain:
            with pytest.raises(ChainExhausted, match="http_400"):
                await chain.generate([{"role": "user"}], PARAMS)  # no content: the server answers 400
            assert chain.usage()["p"]["requests"] == 1

    with loopback_provider() as (url, _):
        asyncio.run(go(url))


def test_circuit_opens_after_failures_and_closes_after_the_cooldown() -> None:
    async def go(bad_url: str, good_url: str, bad: object) -> None:
        eps = [
            endpoint("primary", bad_url, retries=0, breaker_failures=3, breaker_cooldown_seconds=0.4),
            endpoint("backup", good_url),
        ]
        async with FallbackChain(eps, rng=random.Random(2)) as chain:
            primary = chain.states[0]
            for _ in range(3):
                assert (await chain.generate(MESSAGES, PARAMS)).endpoint == "backup"
            assert primary.breaker.state == OPEN
            served_before = len(bad.log)  # type: ignore[attr-defined]
            for _ in range(4):  # open: the primary is not even asked
                assert (await chain.generate(MESSAGES, PARAMS)).endpoint == "backup"
            assert len(bad.log) == served_before  # type: ignore[attr-defined]
            assert chain.usage()["primary"]["skipped_open_circuit"] == 4
            bad.always = None  # type: ignore[attr-defined]  # the provider recovers
            await asyncio.sleep(0.45)
            result = await chain.generate(MESSAGES, PARAMS)  # the half-open trial
            assert result.endpoint == "primary"
            assert primary.breaker.state == CLOSED and primary.breaker.opened == 1
            skipped = REGISTRY.get_sample_value("crucible_synth_skipped_total", {"endpoint": "primary"})
            assert skipped is not None and skipped >= 4

    with loopback_provider(always="http_500") as (bad_url, bad), loopback_provider() as (good_url, _):
        asyncio.run(go(bad_url, good_url, bad))


def test_a_plan_run_loses_and_doubles_nothing_under_faults(tmp_path: Path) -> None:
    """Every item ends with exactly one outcome; items whose chain was exhausted are done by the
    next run; a third run requests nothing."""
    store = ArtifactStore((tmp_path / "artifacts").as_uri())
    plan = manual_plan("empathetic_dialogue", 24, seed=100)
    templates = load_templates("v1")
    faults = ["http_500", "rate_limited", "timeout", "garbage"] * 6

    async def run(eps: list[EndpointPolicy]) -> dict[str, object]:
        policy = SynthesizerPolicy(endpoints=eps, concurrency=8)
        async with FallbackChain(eps, rng=random.Random(3)) as chain:
            report = await run_plan(
                plan, chain, Ledger(store, plan.plan_id), policy, templates, secret=b"s", run_id="r1"
            )
        return report.to_dict()

    with (
        loopback_provider(faults=faults, retry_after=0.01, hang=HANG) as (url1, p1),
        loopback_provider(faults=["http_500"] * 30) as (url2, p2),
    ):
        eps = [endpoint("primary", url1, retries=0, breaker_failures=100), endpoint("backup", url2, retries=0)]
        first = asyncio.run(run(eps))
        assert first["generated"] + first["failed"] == 24  # type: ignore[operator]
        assert first["failed"] > 0  # some items found every endpoint failing
        second = asyncio.run(run(eps))
        third = asyncio.run(run(eps))
        answered = Counter(s.seed for s in p1.log + p2.log if s.outcome == "ok" and s.step == "conversation")
    assert second["already_done"] == first["generated"]
    assert second["generated"] == first["failed"] and second["failed"] == 0
    assert third["already_done"] == 24 and third["requests"] == 0
    outcomes = Ledger(store, plan.plan_id).outcomes()
    assert sorted(o.item_id for o in outcomes) == sorted(i.item_id for i in plan.items)
    assert len({o.record for o in outcomes}) == 24
    # Each item's conversation was answered exactly once (an item's requests carry its seed).
    assert answered == Counter(i.seed for i in plan.items)


def test_a_tgi_endpoint_falls_back_to_an_openai_one_and_back() -> None:
    """The TGI protocol (/generate) in the same chain; a 5xx from it moves on to the next kind."""

    async def go(url: str) -> list[str]:
        eps = [endpoint("tgi", url, kind="tgi", retries=0), endpoint("openai", url)]
        async with FallbackChain(eps) as chain:
            first = await chain.generate(MESSAGES, PARAMS)  # the scripted 500 hits the TGI request
            second = await chain.generate(MESSAGES, PARAMS)
            assert second.completion.text and second.completion.completion_tokens > 0
            return [first.endpoint, second.endpoint]

    with loopback_provider(faults=["http_500"]) as (url, state):
        assert asyncio.run(go(url)) == ["openai", "tgi"]
    assert [s.outcome for s in state.log] == ["http_500", "ok", "ok"]
