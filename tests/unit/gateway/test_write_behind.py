"""The served-request accounting runs after the answer, in batches; no reader sees less than what
was answered (write_behind.py)."""

import asyncio

from crucible.gateway.write_behind import WriteBehind


def test_items_wait_for_the_delay_then_apply_in_order():
    async def go():
        seen: list[int] = []
        wb = WriteBehind(seen.append, delay=0.05, limit=100)
        for i in range(5):
            wb.add(i)
        pending_before = (list(seen), len(wb))
        await asyncio.sleep(0.15)
        return pending_before, seen, len(wb)

    (before, pending), after, left = asyncio.run(go())
    assert before == [] and pending == 5
    assert after == [0, 1, 2, 3, 4] and left == 0


def test_a_full_batch_applies_at_once():
    async def go():
        seen: list[int] = []
        wb = WriteBehind(seen.append, delay=60.0, limit=3)
        for i in range(7):
            wb.add(i)
        return seen, len(wb)

    seen, left = asyncio.run(go())
    assert seen == [0, 1, 2, 3, 4, 5] and left == 1


def test_settle_applies_everything_and_a_failing_item_does_not_stop_the_rest(caplog):
    seen: list[int] = []

    def apply(item: int) -> None:
        if item == 1:
            raise ValueError("bad record")
        seen.append(item)

    async def go():
        wb = WriteBehind(apply, delay=60.0)
        for i in range(4):
            wb.add(i)
        wb.settle()
        return len(wb)

    assert asyncio.run(go()) == 0
    assert seen == [0, 2, 3]
    assert "could not account" in caplog.text


def test_outside_an_event_loop_items_apply_immediately():
    seen: list[str] = []
    WriteBehind(seen.append, delay=60.0).add("x")
    assert seen == ["x"]


def test_the_router_counts_every_answered_request_once_settled(new_stack):
    from prometheus_client import REGISTRY

    def served(code: str) -> float:
        labels = {"variant": "stable", "model": "base", "code": code}
        return REGISTRY.get_sample_value("crucible_gateway_requests_total", labels) or 0.0

    async def go():
        s = await new_stack()
        try:
            before = served("200")
            for i in range(9):
                await s.router.generate("hi", {"max_new_tokens": 4}, f"u{i}")
            s.router.settle()
            return served("200") - before
        finally:
            await s.stop()

    assert asyncio.run(go()) == 9
