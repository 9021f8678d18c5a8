"""`crucible migrate` creates the JetStream streams when CRUCIBLE_NATS_URL is set: it runs as the NATS
admin user, the only one allowed to (issue 25 item 1), and prints no password."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from crucible.common.cli import app


def test_migrate_creates_the_streams_and_prints_no_password(embedded_nats, tmp_path, monkeypatch) -> None:
    import nats

    url = embedded_nats.url.replace("nats://", "nats://crucible-admin:hunter2@")
    monkeypatch.setenv("CRUCIBLE_HOME", str(tmp_path))
    monkeypatch.setenv("CRUCIBLE_NATS_URL", url)
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output and "streams ensured" in result.output

    async def streams() -> set[str]:
        nc = await nats.connect(embedded_nats.url)
        try:
            return {s.config.name for s in await nc.jetstream().streams_info()}
        finally:
            await nc.close()

    assert {"RAW", "RECORDS", "DLQ", "EVENTS"} <= asyncio.run(streams())


def test_streams_that_drifted_are_brought_in_line_and_matching_ones_left_alone(embedded_nats) -> None:
    from nats.js.api import StreamConfig

    from crucible.common.bus import Bus, stream_configs
    from crucible.common.config import BusPolicy

    async def go() -> tuple[float, int]:
        policy = BusPolicy(duplicate_window_seconds=300)
        bus = await Bus.connect(embedded_nats.url, BusPolicy())
        raw = next(c for c in stream_configs(BusPolicy()) if c.name == "RAW")
        await bus.js.update_stream(StreamConfig(**{**raw.as_dict(), "duplicate_window": 30.0}))
        bus.policy = policy
        updates = 0
        original = bus.js.update_stream

        async def counting(cfg):  # type: ignore[no-untyped-def]
            nonlocal updates
            updates += 1
            return await original(cfg)

        bus.js.update_stream = counting  # type: ignore[method-assign]
        await bus.ensure_streams()  # every stream differs from the new window: each updated once
        first = updates
        await bus.ensure_streams()  # now all match: no writes at all
        window = (await bus.js.stream_info("RAW")).config.duplicate_window
        await bus.close()
        return window, first * 10 + (updates - first)

    window, counts = asyncio.run(go())
    assert window == 300
    assert counts == 40  # four updates the first time, none the second
