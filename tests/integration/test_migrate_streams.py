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
