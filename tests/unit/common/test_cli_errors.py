"""One error path: whatever a person can fix is one `error:` line and exit 2; a missing object is
`error:` and exit 1; never a traceback. Driven through the real `crucible` app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from crucible.common.cli import build_app
from crucible.common.cli_support import CrucibleGroup
from crucible.common.errors import NotFoundError

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRUCIBLE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def one_error_line(result, code: int) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("CRUCIBLE_METRICS_PORT", "abc", "CRUCIBLE_METRICS_PORT='abc'"),
        ("CRUCIBLE_METRICS_PORT", "70000", "less than or equal to 65535"),
        ("CRUCIBLE_LOG_LEVEL", "verbose", "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ],
)
def test_a_bad_environment_variable_is_one_line_naming_it(home: Path, variable: str, value: str, says: str) -> None:
    line = one_error_line(runner.invoke(build_app(), ["policy", "show"], env={variable: value}), 2)
    assert says in line and variable in line


def test_a_bad_service_settings_variable_names_it_too(home: Path) -> None:
    # GatewaySettings is the gateway's own BaseSettings: the same path names its variable.
    line = one_error_line(
        runner.invoke(build_app(), ["rollout", "promote"], env={"CRUCIBLE_GATEWAY_GRPC_PORT": "many"}), 2
    )
    assert "CRUCIBLE_GATEWAY_GRPC_PORT='many'" in line


def test_every_policy_problem_is_reported_at_once_with_did_you_mean(home: Path) -> None:
    policy = home / "p.yaml"
    policy.write_text("extraction:\n  days: 0\nscorer:\n  treshold: 5\ndedupe: {}\n")
    result = runner.invoke(build_app(), ["policy", "show", "--policy", str(policy)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert all(line.startswith(f"error: policy file {policy}: ") for line in lines), lines
    text = "\n".join(lines)
    assert "extraction.days" in text
    assert "scorer.treshold: unknown key; did you mean 'threshold'?" in text
    assert "dedupe: unknown policy section; did you mean 'dedup'?" in text


def test_a_missing_policy_file_is_a_usage_error(home: Path) -> None:
    assert "no such file" in one_error_line(runner.invoke(build_app(), ["policy", "show", "--policy", "nope.yaml"]), 2)


def test_invalid_filter_values_are_refused(home: Path) -> None:
    line = one_error_line(runner.invoke(build_app(), ["review", "list", "--status", "bogus"]), 2)
    assert "'bogus' is not one of" in line and "--status" in line
    line = one_error_line(runner.invoke(build_app(), ["models", "list", "--status", "bogus"]), 2)
    assert "'bogus' is not a status" in line


def test_missing_objects_exit_1_with_error(home: Path) -> None:
    assert "no review item 'nope'" in one_error_line(runner.invoke(build_app(), ["review", "show", "nope"]), 1)
    line = one_error_line(runner.invoke(build_app(), ["eval", "run", "missing-model", "--no-publish"]), 1)
    assert "not in the registry" in line
    assert "error:" in one_error_line(runner.invoke(build_app(), ["models", "show", "missing-model"]), 1)


def test_unknown_commands_and_arguments_are_one_line(home: Path) -> None:
    assert "No such command 'bogus'" in one_error_line(runner.invoke(build_app(), ["bogus"]), 2)
    line = one_error_line(runner.invoke(build_app(), ["serve", "scrubbr"]), 2)
    assert "did you mean 'scrubber'?" in line
    assert "--log-format" in one_error_line(runner.invoke(build_app(), ["--log-format", "xml", "version"]), 2)


def test_a_raised_not_found_error_is_exit_1_under_the_root_command() -> None:
    app = typer.Typer(cls=CrucibleGroup)

    @app.command()
    def show(name: str) -> None:
        raise NotFoundError(f"no dataset version {name!r}")

    @app.command()
    def other() -> None:
        pass

    assert one_error_line(runner.invoke(app, ["show", "v9"]), 1) == "error: no dataset version 'v9'"


def test_the_installed_command_prints_one_line_for_a_bad_variable(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "crucible.common.cli", "migrate"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"CRUCIBLE_HOME": str(tmp_path / "home"), "CRUCIBLE_METRICS_PORT": "abc", "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: CRUCIBLE_METRICS_PORT='abc': Input should be a valid integer, unable to parse string as an integer "
        "[Prometheus port for `serve`; 0 = off.]"
    ]
