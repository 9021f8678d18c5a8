"""Two-step generation of a plan item (a situation, then the conversation about it) and a plan
run: items at `concurrency` at once, each done exactly once.

The ledger is the idempotency: an item with an outcome in it (a record, or a rejection with its
reason) is never requested again; an item whose chain was exhausted has no outcome and is tried
again by the next run. The record id derives from the item id, so even a record published twice
is one record downstream."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crucible.synthesizer import VERSION, metrics
from crucible.synthesizer.chain import ChainExhausted, FallbackChain
from crucible.synthesizer.conversation import ConversationError, Provenance, build_record, parse_turns
from crucible.synthesizer.ledger import ItemOutcome, Ledger
from crucible.synthesizer.plan import Plan, PlanItem
from crucible.synthesizer.policy import SynthesizerPolicy
from crucible.synthesizer.templates import Templates, conversation_prompt, scenario_prompt
from crucible.v1 import records_pb2

log = logging.getLogger(__name__)

SYSTEM = "You write realistic, anonymous training data for a relationship-coaching app."


@dataclass
class RunReport:
    plan_id: str
    items: int
    generated: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: int = 0  # chain exhausted: no outcome, retried by the next run
    already_done: int = 0
    requests: int = 0
    seconds: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "items": self.items,
            "generated": self.generated,
            "rejected": dict(self.rejected),
            "failed": self.failed,
            "already_done": self.already_done,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "usage": self.usage,
            "errors": self.errors[:5],
        }


def _params(policy: SynthesizerPolicy, seed: int, max_new_tokens: int) -> dict[str, Any]:
    return {"temperature": policy.temperature, "top_p": policy.top_p, "seed": seed, "max_new_tokens": max_new_tokens}


async def generate_item(
    chain: FallbackChain,
    item: PlanItem,
    plan_id: str,
    policy: SynthesizerPolicy,
    templates: Templates,
    *,
    secret: bytes,
    run_id: str,
) -> tuple[ItemOutcome, int]:
    """One item's outcome and the requests it took. Raises ChainExhausted when no endpoint answered."""
    first = await chain.generate(
        [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": scenario_prompt(templates, item.category, item.scenario)},
        ],
        _params(policy, item.seed, policy.max_new_tokens_scenario),
    )
    situation = first.completion.text.strip()
    turns_wanted = max(policy.min_turns, 6)
    second = await chain.generate(
        [
            {"role": "system", "content": SYSTEM},
            {
                "role": "user",
                "content": conversation_prompt(templates, item.category, item.scenario, situation, turns_wanted),
            },
        ],
        _params(policy, item.seed, policy.max_new_tokens_conversation),
    )
    requests = first.attempts + second.attempts
    base = {"item_id": item.item_id, "category": item.category, "endpoint": second.endpoint, "model": second.model}
    if not situation:
        return ItemOutcome(status="rejected", reason="empty_scenario", **base), requests
    try:
        turns = parse_turns(second.completion.text, policy.min_turns)
    except ConversationError as err:
        return ItemOutcome(status="rejected", reason=err.reason, detail=str(err), **base), requests
    prov = Provenance(
        plan_id=plan_id,
        item_id=item.item_id,
        category=item.category,
        endpoint=second.endpoint,
        model=second.model,
        template=templates.names(),
        temperature=policy.temperature,
        seed=item.seed,
        synthesizer_version=VERSION,
    )
    record = build_record(
        turns,
        item.scenario,
        prov,
        secret=secret,
        run_id=run_id,
        now=dt.datetime.now(dt.UTC),
        min_quality=policy.min_quality,
    )
    return ItemOutcome(status="generated", record=record.SerializeToString(), **base), requests


async def run_plan(
    plan: Plan,
    chain: FallbackChain,
    ledger: Ledger,
    policy: SynthesizerPolicy,
    templates: Templates,
    *,
    secret: bytes,
    run_id: str,
    progress: Callable[[int, int], None] | None = None,
) -> RunReport:
    """Generate every item of the plan that has no outcome yet."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    report = RunReport(plan.plan_id, len(plan.items))
    await asyncio.to_thread(ledger.write_plan, plan)
    done = await asyncio.to_thread(ledger.done_items)
    todo = [i for i in plan.items if i.item_id not in done]
    report.already_done = len(plan.items) - len(todo)
    gate = asyncio.Semaphore(policy.concurrency)
    finished = 0

    async def one(item: PlanItem) -> None:
        nonlocal finished
        async with gate:
            try:
                outcome, requests = await generate_item(
                    chain, item, plan.plan_id, policy, templates, secret=secret, run_id=run_id
                )
            except ChainExhausted as err:
                report.failed += 1
                metrics.ITEMS.labels("no_endpoint").inc()
                report.errors.append(f"{item.item_id}: {err}")
                return
            report.requests += requests
            await asyncio.to_thread(ledger.write_outcome, outcome)
            if outcome.status == "generated":
                report.generated += 1
                metrics.ITEMS.labels("generated").inc()
            else:
                report.rejected[outcome.reason] += 1
                metrics.ITEMS.labels(f"rejected:{outcome.reason}").inc()
            finished += 1
            if progress is not None:
                progress(finished, len(todo))

    await asyncio.gather(*(one(i) for i in todo))
    report.seconds = loop.time() - started
    report.usage = chain.usage()
    if report.failed:
        log.warning("plan %s: %d items found no endpoint; a later run retries them", plan.plan_id, report.failed)
    return report


def outcome_record(outcome: ItemOutcome) -> records_pb2.Record:
    return records_pb2.Record.FromString(outcome.record)
