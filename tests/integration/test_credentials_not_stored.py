"""Issue 25 item 4 on a real run: the NATS URL's password reaches neither summary.json, nor the
registry's runs.summary, nor the console's run list. No service is installed for the run (the
bus, the registry and the summary are what is under test), so it takes a second."""

from __future__ import annotations

import asyncio
import json

from crucible.common.config import Settings
from crucible.common.pipeline import run_pipeline
from crucible.common.registry import Run
from crucible.common.runtime import Runtime

SECRET = "pa55-w0rd-in-url"


def test_a_run_stores_and_shows_no_nats_password(embedded_nats, tmp_path, monkeypatch) -> None:
    import crucible.common.pipeline as pipeline

    monkeypatch.setattr(pipeline, "discover_services", dict)
    # The embedded server has no auth configured, so it accepts (and ignores) the credentials.
    url = embedded_nats.url.replace("nats://", f"nats://crucible-admin:{SECRET}@")
    runtime = Runtime.create(Settings(home=tmp_path / "home", nats_url=url))
    try:
        summary = asyncio.run(run_pipeline(runtime, steps=[]))
        stored = (tmp_path / "home" / "runs" / runtime.run_id / "summary.json").read_text()
        assert SECRET not in stored
        assert json.loads(stored)["bus"]["url"].startswith("nats://crucible-admin:***@127.0.0.1:")
        with runtime.registry.session() as s:
            assert SECRET not in json.dumps(s.get(Run, runtime.run_id).summary, default=str)
        assert SECRET not in json.dumps(summary, default=str)
        from crucible.console.queries import runs

        assert SECRET not in json.dumps(runs(runtime.registry), default=str)
    finally:
        asyncio.run(runtime.close())
