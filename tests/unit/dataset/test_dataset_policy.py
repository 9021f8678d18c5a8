"""Policy: the seeds' defaults, and bad values rejected with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from crucible.common.config import ConfigError, load_policy, validate_section
from crucible.dataset.policy import DatasetPolicy


def test_defaults_are_the_seeds_values() -> None:
    p = DatasetPolicy()
    assert p.category_mix == {
        "instruction_following": 0.40,
        "contextual_understanding": 0.25,
        "empathetic_dialogue": 0.20,
        "personalization": 0.10,
        "safety_ethics": 0.05,
    }
    assert p.synthetic_cap == 0.30
    assert p.splits.as_dict() == {"train": 0.90, "val": 0.05, "test": 0.05}
    assert p.fairness_target == 85
    assert p.auto_build_min_new_records == 1000
    assert p.formats == ["chat", "alpaca", "sharegpt", "seed"]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"synthetic_cap": 1.5}, "dataset.synthetic_cap"),
        ({"fairness_target": 120}, "dataset.fairness_target"),
        ({"category_mix": {"instruction_following": 0.5, "safety_ethics": 0.2}}, "dataset.category_mix"),
        ({"category_mix": {"instruction_following": 1.2, "safety_ethics": -0.2}}, "dataset.category_mix"),
        ({"splits": {"train": 0.8, "val": 0.05, "test": 0.05}}, "dataset.splits"),
        ({"splits": {"train": 0.9, "val": 0.1, "tset": 0.0}}, "dataset.splits.tset"),
        ({"formats": ["chat", "parquet"]}, "dataset.formats"),
        ({"formats": ["chat", "chat"]}, "dataset.formats"),
        ({"auto_build_min_new_records": 0}, "dataset.auto_build_min_new_records"),
        ({"system_prompt": ""}, "dataset.system_prompt"),
        ({"audit": {"min_coverage": 2}}, "dataset.audit.min_coverage"),
        ({"synthetic_cpa": 0.3}, "dataset.synthetic_cpa"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_section("dataset", DatasetPolicy, raw)
    assert key in str(err.value)


def test_policy_file_with_a_bad_value_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "crucible.yaml"
    path.write_text("dataset:\n  synthetic_cap: 0.3\n  splits: {train: 0.5, val: 0.1, test: 0.1}\n")
    with pytest.raises(ConfigError, match=r"dataset\.splits"):
        load_policy(path, section_models={"dataset": DatasetPolicy})


def test_policy_file_overrides_are_used(tmp_path: Path) -> None:
    path = tmp_path / "crucible.yaml"
    path.write_text("dataset:\n  synthetic_cap: 0.1\n  formats: [chat]\n  system_prompt: Be kind.\n")
    policy = load_policy(path, section_models={"dataset": DatasetPolicy}).section("dataset")
    assert (policy.synthetic_cap, policy.formats, policy.system_prompt) == (0.1, ["chat"], "Be kind.")
