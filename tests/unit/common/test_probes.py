"""Liveness/readiness decisions and the HTTP endpoints that serve them."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from crucible.common.probes import ProbeState, serve_probes


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_not_alive_before_the_first_heartbeat_and_after_a_stale_one() -> None:
    clock = FakeClock()
    state = ProbeState(stale_after=30.0, clock=clock)
    assert state.live()[0] is False
    state.beat()
    clock.now += 29
    assert state.live()[0] is True
    clock.now += 2
    ok, detail = state.live()
    assert ok is False and "31.0s" in str(detail["loop"])


def test_ready_needs_every_check_and_reports_which_failed() -> None:
    state = ProbeState(clock=FakeClock())
    state.beat()
    connected = {"value": True}
    state.add_check("nats", lambda: connected["value"])
    assert state.ready() == (True, {"loop": "last heartbeat 0.0s ago", "nats": "ok"})
    connected["value"] = False
    ok, detail = state.ready()
    assert ok is False and detail["nats"] == "failing"


def test_a_check_that_raises_fails_readiness_with_the_reason() -> None:
    state = ProbeState(clock=FakeClock())
    state.beat()

    def broken() -> bool:
        raise RuntimeError("no route")

    state.add_check("bus", broken)
    ok, detail = state.ready()
    assert ok is False and "no route" in str(detail["bus"])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture
def served() -> Iterator[tuple[ProbeState, str]]:
    state = ProbeState(clock=FakeClock())
    server = serve_probes(0, state, host="127.0.0.1")
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_endpoints_answer_503_until_ready_then_200(served: tuple[ProbeState, str]) -> None:
    state, base = served
    assert _get(base + "/readyz")[0] == 503
    state.beat()
    state.add_check("nats", lambda: True)
    code, body = _get(base + "/readyz")
    assert code == 200 and json.loads(body)["nats"] == "ok"
    assert _get(base + "/livez")[0] == 200
    code, body = _get(base + "/metrics")
    assert code == 200 and b"# HELP" in body
    assert _get(base + "/nope")[0] == 404


def test_metrics_host_setting_chooses_the_bind_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """CRUCIBLE_METRICS_HOST=127.0.0.1 keeps /metrics and the probes off the pod network (issue 25)."""
    from crucible.common.config import Settings
    from crucible.gateway.serving_cli import start_probe

    assert Settings().metrics_host == "0.0.0.0"
    monkeypatch.setenv("CRUCIBLE_METRICS_HOST", "127.0.0.1")
    host = Settings().metrics_host
    assert host == "127.0.0.1"
    for server in (serve_probes(0, ProbeState(), host=host), start_probe(0, 60.0)[0]):
        try:
            assert server.server_address[0] == "127.0.0.1"
        finally:
            server.shutdown()
            server.server_close()
