"""The opt-out list reaches the gateway: an opted-out (or forgotten) person's served exchanges are
never published as interaction records; everyone else's are."""

from __future__ import annotations

import asyncio

from crucible.common.excluded_subjects import shared_excluded
from crucible.common.optout import add_optout
from crucible.gateway.interactions import Exchange, InteractionLog, subject_token
from crucible.gateway.policy import InteractionPolicy
from crucible.gateway.responses import Route
from crucible.v1 import records_pb2

SECRET = b"subject-secret"


class Captured:
    def __init__(self) -> None:
        self.records: list[records_pb2.Record] = []

    async def __call__(self, records: list[records_pb2.Record]) -> None:
        self.records.extend(records)


def _exchange(user: str) -> Exchange:
    route = Route(f"r-{user}", "stable", "base", "", 0, published=True, user_id=user)
    return Exchange(route=route, user_id=user, prompt="How do we argue less?", answer="Listen first.",
                    latency_s=0.1, tokens=3, at=1_000_000.0)  # fmt: skip


def test_opted_out_exchanges_are_never_published(runtime) -> None:
    add_optout(runtime.registry, subject_token(SECRET, "u-out"))
    captured = Captured()
    log = InteractionLog(
        InteractionPolicy(enabled=True), captured, SECRET, excluded=shared_excluded(runtime.registry).excludes
    )
    for user in ("u-in", "u-out", "u-in", "u-out"):
        log.served(_exchange(user))
    assert asyncio.run(log.flush()) == 2
    assert {r.subject_token for r in captured.records} == {subject_token(SECRET, "u-in")}
