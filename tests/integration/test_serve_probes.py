"""`crucible serve` answers /readyz from what it is doing: ready while connected to NATS,
not ready while NATS is away (but still alive, so the kubelet does not restart it), ready again
after NATS comes back; SIGTERM ends it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from crucible.common.embedded import EmbeddedNats, free_port

CRUCIBLE = str(Path(sys.executable).with_name("crucible"))


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0  # not listening yet


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        assert proc.poll() is None, f"crucible serve exited with {proc.returncode} while waiting for {what}"
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_readiness_follows_the_nats_connection(tmp_path: Path) -> None:
    nats = EmbeddedNats(store_dir=tmp_path / "nats").start()
    port = free_port()
    env = {
        **os.environ,
        "CRUCIBLE_HOME": str(tmp_path / "home"),
        "CRUCIBLE_NATS_URL": nats.url,
        "CRUCIBLE_METRICS_PORT": str(port),
        "CRUCIBLE_SUBJECT_SECRET": "probe-test",
    }
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([CRUCIBLE, "serve", "dataset"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _status(base + "/readyz") == 200, 60, "ready", proc)
        nats.stop()
        _wait_for(lambda: _status(base + "/readyz") == 503, 30, "not ready without NATS", proc)
        assert _status(base + "/livez") == 200
        nats.start()
        _wait_for(lambda: _status(base + "/readyz") == 200, 30, "ready again", proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        nats.stop()
        log.close()
