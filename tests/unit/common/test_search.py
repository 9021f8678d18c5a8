"""The search kernel: where a study is stored beside the registry, the proposed policy diff, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from crucible.common.errors import UsageError
from crucible.common.search import check_trials, create_study, open_storage, policy_diff, storage_target, study_record


def test_sqlite_study_lives_in_a_file_beside_the_registry() -> None:
    assert storage_target("sqlite:////x/home/registry.db") == ("sqlite:////x/home/registry.optuna.db", None)
    assert storage_target("sqlite:///:memory:") == ("sqlite:///:memory:", None)


def test_postgres_study_lives_in_its_own_schema() -> None:
    url, schema = storage_target("postgresql+psycopg://app:pw@db:5432/prod")
    assert schema == "optuna"
    assert url == "postgresql+psycopg://app:pw@db:5432/prod?options=-csearch_path%3Doptuna"
    # A registry in a private schema: the study gets a schema named after it.
    url, schema = storage_target("postgresql+psycopg://db/test?options=-csearch_path%3Dreg_1")
    assert schema == "reg_1_optuna"
    assert url.endswith("options=-csearch_path%3Dreg_1_optuna")


def test_the_study_does_not_collide_with_the_registry_migrations(tmp_path: Path) -> None:
    from crucible.common.registry import Registry

    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.migrate()
    study = create_study(open_storage(registry.url), "s", direction="minimize", seed=1)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    registry.migrate()  # still at its heads: Optuna's version table is elsewhere
    record = study_record(study)
    assert [t["state"] for t in record["trials"]] == ["COMPLETE", "COMPLETE"]
    assert record["best"]["value"] == min(t["value"] for t in record["trials"])
    registry.dispose()


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(UsageError, match="cannot open the study storage"):
        open_storage("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_trials_must_be_at_least_one() -> None:
    with pytest.raises(UsageError, match="at least 1"):
        check_trials(0)
    assert check_trials(3) == 3


def test_same_name_twice_is_refused(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'r.db'}")
    create_study(storage, "dup", direction="minimize", seed=1)
    with pytest.raises(UsageError, match="exists already"):
        create_study(storage, "dup", direction="minimize", seed=1)


def test_policy_diff_shows_only_the_changed_keys_of_the_section() -> None:
    current = {"lora_r": 16, "learning_rate": 2e-5, "epochs": 3.0}
    diff = policy_diff(["trainer"], current, {"lora_r": 8, "learning_rate": 2e-5, "epochs": 3.0, "other": 1})
    lines = diff.splitlines()
    assert lines[0] == "--- crucible.yaml (in force)"
    assert lines[1] == "+++ crucible.yaml (proposed)"
    assert "-  lora_r: 16" in lines and "+  lora_r: 8" in lines
    assert " trainer:" in lines
    assert not any("other" in line for line in lines)
    assert not any(line.startswith(("-  epochs", "+  epochs")) for line in lines)
    assert policy_diff(["trainer"], current, dict(current)) == ""


def test_policy_diff_nests_the_section_path() -> None:
    diff = policy_diff(["scorer", "safety_head"], {"dropout": 0.1}, {"dropout": 0.25}, source="p.yaml", label="t3")
    assert diff.splitlines()[:2] == ["--- p.yaml (in force)", "+++ p.yaml (t3)"]
    assert " scorer:" in diff.splitlines() and "   safety_head:" in diff.splitlines()
    assert "+    dropout: 0.25" in diff.splitlines()


def test_unreachable_registry_is_a_clear_error_before_any_work(monkeypatch, tmp_path: Path) -> None:
    from crucible.common.search import search_runtime

    monkeypatch.setenv("CRUCIBLE_HOME", str(tmp_path))
    monkeypatch.setenv("CRUCIBLE_DATABASE_URL", "postgresql+psycopg://app:secret@127.0.0.1:1/x?connect_timeout=2")
    with pytest.raises(UsageError, match="cannot reach the registry database") as err:
        search_runtime()
    assert "secret" not in str(err.value)
