"""`crucible serve gateway` runs on uvloop when it is installed, and can opt out."""

import asyncio

import pytest
import uvloop

from crucible.gateway.eventloop import EVENT_LOOP_ENV
from crucible.gateway.service import SPEC


def test_serve_uses_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)
    assert SPEC.loop_factory is not None
    loop = SPEC.loop_factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_the_standard_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EVENT_LOOP_ENV, "asyncio")
    assert SPEC.loop_factory is not None
    loop = SPEC.loop_factory()
    try:
        assert not isinstance(loop, uvloop.Loop) and isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()
