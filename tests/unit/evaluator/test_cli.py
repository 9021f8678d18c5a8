"""`crucible eval ...` commands, driven through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crucible.evaluator.cli import eval_app

runner = CliRunner()


def test_suite_command_counts_the_shipped_cases() -> None:
    result = runner.invoke(eval_app, ["suite"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["cases"] >= 100 and len(data["by_category"]) == 5


def test_suite_command_rejects_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "s.jsonl"
    bad.write_text(json.dumps({"id": "1", "category": "crisis", "messages": [{"role": "user", "content": "x"}],
                               "must_not": ["nope"]}) + "\n")  # fmt: skip
    result = runner.invoke(eval_app, ["suite", "--path", str(bad)])
    assert result.exit_code == 2 and "unknown rule" in result.output


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRUCIBLE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_run_and_sample_fail_clearly_without_a_model(home: Path) -> None:
    result = runner.invoke(eval_app, ["run", "missing-model", "--no-publish"])
    assert result.exit_code == 1 and "error:" in result.output and "not in the registry" in result.output
    result = runner.invoke(eval_app, ["sample", "--n", "5"])
    assert result.exit_code == 2 and "no evaluated model" in result.output
    result = runner.invoke(eval_app, ["ingest", str(home / "nothing.jsonl")])
    assert result.exit_code == 2 and "does not exist" in result.output
