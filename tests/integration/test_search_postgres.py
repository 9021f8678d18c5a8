"""The search's study storage on PostgreSQL (the production registry): Optuna's tables in a schema of their
own beside a migrated registry (whose alembic_version they would otherwise collide with), and a search
through the trainer's and the scorer's code paths reading and writing it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import optuna
import pytest
import sqlalchemy as sa

from crucible.common.registry import Registry
from crucible.common.search import create_study, open_storage, storage_target, study_record

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_registry(pg_schema) -> Iterator[tuple[Registry, str]]:
    url, schema = pg_schema("search")
    registry = Registry(url)
    registry.migrate()
    try:
        yield registry, schema
    finally:
        registry.dispose()


def test_study_on_postgres_beside_the_registry(pg_registry: tuple[Registry, str]) -> None:
    registry, schema = pg_registry
    assert storage_target(registry.url)[1] == f"{schema}_optuna"
    name = f"s26-{uuid.uuid4().hex[:8]}"
    study = create_study(open_storage(registry.url), name, direction="minimize", seed=11)
    study.enqueue_trial({"x": 0.5}, user_attrs={"baseline": True})
    study.optimize(lambda t: (t.suggest_float("x", 0.0, 1.0) - 0.3) ** 2, n_trials=4)
    registry.migrate()  # the registry's migrations still find their own heads
    again = optuna.load_study(study_name=name, storage=open_storage(registry.url))
    record = study_record(again)
    assert [t["params"] for t in record["trials"]] == [t.params for t in study.trials]
    assert record["trials"][0]["params"] == {"x": 0.5} and record["best"]["value"] <= 0.04
    with registry.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names(schema=f"{schema}_optuna"))
        heads = {r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))}
    assert {"studies", "trials", "trial_params"} <= tables
    assert "scorer_0001" in heads and len(heads) > 1  # the registry's version table, untouched


def test_same_seed_gives_the_same_parameters_on_postgres(pg_registry: tuple[Registry, str]) -> None:
    registry, _ = pg_registry
    storage = open_storage(registry.url)
    runs = []
    for _ in range(2):
        study = create_study(storage, f"s26-{uuid.uuid4().hex[:8]}", direction="minimize", seed=5, n_startup_trials=2)
        study.optimize(lambda t: (t.suggest_float("x", 0.0, 1.0) - 0.3) ** 2, n_trials=5)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]
