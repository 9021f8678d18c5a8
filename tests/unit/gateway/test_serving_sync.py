"""`crucible serving sync` (vLLM's sidecar) against a real SQLite registry, the file artifact store
and real adapters: adapters arrive as the registry wants them, leave once retired, rolled back or
rejected, a serving one is never removed, and readiness says whether the last pass worked."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from test_serving_prepare import corrupt_copy, register  # same folder (pytest puts it on sys.path)

from crucible.common import lifecycle
from crucible.common.runtime import Runtime
from crucible.gateway.serving_cli import STATUS_FILE, start_probe, sync_once, write_status


def _move(runtime: Runtime, name: str, to: str) -> None:
    with runtime.registry.session() as s:
        lifecycle.transition(s, name, to, reason="test", actor="test")


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_sync_follows_the_lifecycle(
    runtime: Runtime, tiny_adapter: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="crucible.gateway.serving")
    folder = tmp_path / "adapters"
    register(runtime, "m1", tiny_adapter, "serving")
    register(runtime, "m2", tiny_adapter, "evaluated")
    assert sync_once(runtime, folder, "default").adapters == ["m1", "m2"]
    assert any("fetched adapter m2 (evaluated)" in r.getMessage() for r in caplog.records)
    register(runtime, "m3", corrupt_copy(tiny_adapter, tmp_path / "corrupt"), "evaluated")
    (folder / "hand-placed").mkdir(parents=True)  # not the registry's: left alone

    status = sync_once(runtime, folder, "default")
    assert status.ready and not status.error
    assert _names(folder) == ["hand-placed", "m1", "m2"]
    assert set(status.failed) == {"m3"}
    assert sum("skipping adapter m3" in r.getMessage() for r in caplog.records) == 1

    # The same failure is not logged again on the next pass; nothing else changes.
    caplog.clear()
    status = sync_once(runtime, folder, "default", previous=status)
    assert not any("skipping adapter m3" in r.getMessage() for r in caplog.records)
    assert not any("fetched" in r.getMessage() for r in caplog.records)

    # m2 is rolled out and promoted: m1 retires and leaves the disk; m2 stays.
    _move(runtime, "m2", "canary")
    _move(runtime, "m2", "serving")
    _move(runtime, "m3", "rejected")
    caplog.clear()
    status = sync_once(runtime, folder, "default", previous=status)
    assert _names(folder) == ["hand-placed", "m2"]
    assert status.adapters == ["hand-placed", "m2"] and not status.failed
    assert any("removed adapter m1" in r.getMessage() for r in caplog.records)

    # A canary that is rolled back leaves; the serving model never does.
    register(runtime, "m4", tiny_adapter, "canary")
    sync_once(runtime, folder, "default")
    assert _names(folder) == ["hand-placed", "m2", "m4"]
    _move(runtime, "m4", "rolled_back")
    sync_once(runtime, folder, "default")
    assert _names(folder) == ["hand-placed", "m2"]


def test_registry_unreachable_changes_nothing_and_keeps_a_serving_pod_ready(
    runtime: Runtime, tiny_adapter: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "adapters"
    register(runtime, "m1", tiny_adapter, "serving")
    good = sync_once(runtime, folder, "default")
    from crucible.common.registry import Registry

    broken = Runtime(
        settings=runtime.settings,
        policy=runtime.policy,
        registry=Registry(f"sqlite:///{tmp_path / 'missing' / 'no-schema.db'}"),
        artifacts=runtime.artifacts,
    )
    status = sync_once(broken, folder, "default")
    assert not status.ready and "cannot read the registry" in status.error  # first pass: the server waits
    later = sync_once(broken, folder, "default", previous=good)
    assert later.ready and "cannot read the registry" in later.error  # an outage later: keep serving
    assert _names(folder) == ["m1"] and later.adapters == ["m1"]
    broken.registry.dispose()


def test_status_file_and_probe(runtime: Runtime, tiny_adapter: Path, tmp_path: Path) -> None:
    folder = tmp_path / "adapters"
    register(runtime, "m1", tiny_adapter, "serving")
    server, handler = start_probe(0, max_age=60)
    port = server.server_address[1]
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert err.value.code == 503  # no pass yet
        status = sync_once(runtime, folder, "default")
        write_status(folder, status)
        handler.status = status
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
            assert resp.status == 200
            assert json.loads(resp.read())["adapters"] == ["m1"]
    finally:
        server.shutdown()
    written = json.loads((folder / STATUS_FILE).read_text())
    assert written["ready"] is True and written["adapters"] == ["m1"]


def test_cli_once(runtime: Runtime, crucible_home: Path, tiny_adapter: Path, tmp_path: Path) -> None:
    register(runtime, "m1", tiny_adapter, "serving")
    register(runtime, "m2", tiny_adapter, "evaluated", pool="vllm-pool")
    env = {**os.environ, "CRUCIBLE_HOME": str(crucible_home), "CRUCIBLE_LOG_JSON": "false", "OMP_NUM_THREADS": "1"}
    folder = tmp_path / "adapters"
    cmd = [sys.executable, "-m", "crucible.common.cli", "serving", "sync", "--dir", str(folder), "--once"]
    run: dict[str, Any] = {"capture_output": True, "text": True, "env": env, "timeout": 120}
    proc = subprocess.run([*cmd, "--pool", "vllm-pool"], check=False, **run)
    assert proc.returncode == 0, proc.stderr
    assert _names(folder) == ["m2"]
    assert "fetched adapter m2 (evaluated)" in proc.stderr
    # A rank above the server's maximum is refused, and --once says so in its exit code.
    proc = subprocess.run([*cmd, "--max-rank", "2"], check=False, **run)
    assert proc.returncode == 1
    assert "above the server's maximum 2" in proc.stderr
    assert _names(folder) == ["m2"]
