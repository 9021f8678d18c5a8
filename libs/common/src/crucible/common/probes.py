"""Liveness and readiness for `crucible serve`, served beside `/metrics` on the metrics port.

- `/livez`: the process's event loop still runs (a heartbeat task stamps it); a wedged loop
  (a blocking call that never returns) fails it and the kubelet restarts the pod.
- `/readyz`: alive *and* every readiness check passes (e.g. connected to NATS). A worker that
  lost the bus is taken out of rotation instead of being counted as healthy while it does nothing.
- `/metrics`: Prometheus text, as before.

The decision is `ProbeState` (pure, clock injected); the HTTP server is a daemon thread so a
stuck event loop cannot take the probes down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

Check = Callable[[], bool]


@dataclass
class ProbeState:
    """What the probes answer. `stale_after`: seconds without a heartbeat before the loop counts as wedged."""

    stale_after: float = 30.0
    clock: Callable[[], float] = time.monotonic
    checks: dict[str, Check] = field(default_factory=dict)
    _last_beat: float | None = None

    def beat(self) -> None:
        self._last_beat = self.clock()

    def add_check(self, name: str, check: Check) -> None:
        self.checks[name] = check

    def live(self) -> tuple[bool, dict[str, object]]:
        if self._last_beat is None:
            return False, {"loop": "not started"}
        age = self.clock() - self._last_beat
        return age <= self.stale_after, {"loop": f"last heartbeat {age:.1f}s ago"}

    def ready(self) -> tuple[bool, dict[str, object]]:
        ok, detail = self.live()
        for name, check in self.checks.items():
            try:
                passed = bool(check())
            except Exception as exc:  # a check that raises is a failed check, with the reason shown
                passed, detail[name] = False, f"error: {exc!r}"
            else:
                detail[name] = "ok" if passed else "failing"
            ok = ok and passed
        return ok, detail


async def heartbeat(state: ProbeState, stop: asyncio.Event, every: float = 5.0) -> None:
    """Stamp the state from the event loop until `stop` is set."""
    while not stop.is_set():
        state.beat()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


def _handler(state: ProbeState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
            elif path in ("/livez", "/readyz"):
                ok, detail = state.live() if path == "/livez" else state.ready()
                body = json.dumps({"ok": ok, **detail}).encode()
                self._send(200 if ok else 503, "application/json", body)
            else:
                self._send(404, "text/plain", b"not found: try /metrics, /livez, /readyz\n")

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the kubelet probes every few seconds: an access log would drown the service's own

    return Handler


def serve_probes(port: int, state: ProbeState, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve `/metrics`, `/livez` and `/readyz` on `port` from a daemon thread; returns the server."""
    server = ThreadingHTTPServer((host, port), _handler(state))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
    return server
