"""Config errors stop start-up and name the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from crucible.common.config import ConfigError, load_policy
from crucible.common.plugins import installed_policy_models


class ToySection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(default=0.85, ge=0.0, le=1.0)


SECTIONS = {"toy": ToySection}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crucible.yaml"
    path.write_text(text)
    return path


def test_defaults_are_the_seeds_numbers() -> None:
    policy = load_policy(None, section_models=SECTIONS)
    assert policy.extraction.days == 30
    assert policy.extraction.min_quality == 7.0
    assert policy.section("toy").threshold == 0.85


def test_out_of_range_value_names_the_key_and_the_range(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_policy(write(tmp_path, "extraction:\n  min_quality: 12\n"), section_models=SECTIONS)
    message = str(err.value)
    assert "extraction.min_quality" in message
    assert "le 10" in message and "12" in message


def test_service_section_errors_name_the_section_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"toy\.threshold"):
        load_policy(write(tmp_path, "toy:\n  threshold: -1\n"), section_models=SECTIONS)


def test_a_typo_is_an_error_not_a_silent_default(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"toy\.treshold"):
        load_policy(write(tmp_path, "toy:\n  treshold: 0.9\n"), section_models=SECTIONS)
    with pytest.raises(ConfigError, match="unknown policy section"):
        load_policy(write(tmp_path, "toys: {}\n"), section_models=SECTIONS)


def test_wrong_type_and_bad_yaml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bus\.batch_size"):
        load_policy(write(tmp_path, "bus:\n  batch_size: many\n"), section_models=SECTIONS)
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_policy(write(tmp_path, "bus: [\n"), section_models=SECTIONS)


def test_overrides_apply_dotted_keys_and_are_validated() -> None:
    policy = load_policy(None, section_models=SECTIONS, overrides={"toy.threshold": 0.9})
    assert policy.section("toy").threshold == 0.9
    with pytest.raises(ConfigError, match=r"toy\.threshold"):
        load_policy(None, section_models=SECTIONS, overrides={"toy.threshold": 2})


def test_the_repository_policy_file_is_valid() -> None:
    root = Path(__file__).resolve().parents[3]
    policy = load_policy(root / "crucible.yaml", installed_policy_models())
    assert policy.extraction.days == 30


def test_cli_exits_2_naming_the_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = write(tmp_path, "extraction:\n  days: 0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "crucible.common.cli", "run", "--policy", str(bad)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"CRUCIBLE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "extraction.days" in proc.stderr
