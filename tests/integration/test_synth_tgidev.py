"""The embedded default: the chain's one endpoint is tgi-dev (TGI's /generate) serving the tiny
Llama. Its output is poor; the synthesizer must say so item by item, never pass it off."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from crucible.common.artifacts import ArtifactStore
from crucible.synthesizer.chain import FallbackChain
from crucible.synthesizer.generate import run_plan
from crucible.synthesizer.ledger import Ledger
from crucible.synthesizer.plan import manual_plan
from crucible.synthesizer.policy import TGI_DEV, EndpointPolicy, SynthesizerPolicy
from crucible.synthesizer.templates import load_templates


@pytest.fixture(scope="module")
def tgi_dev(tiny_base_model: Path) -> Iterator[str]:
    import uvicorn

    from crucible.tgidev.server import build_app

    srv = uvicorn.Server(
        uvicorn.Config(build_app(tiny_base_model), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(srv.serve(),), daemon=True)
    thread.start()
    while not srv.started:
        threading.Event().wait(0.05)
    yield f"http://127.0.0.1:{srv.servers[0].sockets[0].getsockname()[1]}"
    srv.should_exit = True
    thread.join(10)


def test_the_default_tgi_dev_endpoint_answers_and_its_poor_output_is_accounted(tgi_dev: str, tmp_path: Path) -> None:
    endpoint = EndpointPolicy(**(TGI_DEV | {"url": tgi_dev}))
    policy = SynthesizerPolicy(
        endpoints=[endpoint], max_new_tokens_scenario=32, max_new_tokens_conversation=96, concurrency=2
    )
    assert SynthesizerPolicy().endpoints[0].kind == "tgi" and SynthesizerPolicy().endpoints[0].name == "tgi-dev"
    plan = manual_plan("empathetic_dialogue", 3, seed=5)
    ledger = Ledger(ArtifactStore((tmp_path / "a").as_uri()), plan.plan_id)

    async def go() -> dict:
        async with FallbackChain(policy.endpoints) as chain:
            report = await run_plan(plan, chain, ledger, policy, load_templates("v1"), secret=b"s", run_id="r")
        return report.to_dict()

    report = asyncio.run(go())
    usage = report["usage"]["tgi-dev"]
    assert report["failed"] == 0 and usage["successes"] == 6 and usage["completion_tokens"] > 0
    outcomes = ledger.outcomes()
    assert len(outcomes) == 3 and {o.endpoint for o in outcomes} == {"tgi-dev"}
    # Each item is either a parsed conversation or a rejection with a reason (most are unparseable).
    assert all(
        o.status == "generated" or o.reason in {"unparseable", "too_few_turns", "empty_scenario"} for o in outcomes
    )
    assert report["generated"] + sum(report["rejected"].values()) == 3
