"""What every CLI command needs, in one place: a Runtime from the environment with the
policy validated (every installed service's section), logging set up, and a bad value turned
into exit code 2 naming the key."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from crucible.common.config import ConfigError, Settings
from crucible.common.runtime import Runtime
from crucible.common.telemetry import setup_logging

PolicyOpt = Annotated[Path | None, typer.Option("--policy", help="Policy YAML (default: ./crucible.yaml).")]


def runtime_from_env(policy_file: Path | None = None) -> Runtime:
    """Settings from `CRUCIBLE_*`, the policy validated; exits 2 with the key on a bad value."""
    settings = Settings()
    if policy_file is not None:
        settings.policy_file = policy_file
    setup_logging(settings.log_level, json_logs=settings.log_json and not sys.stderr.isatty())
    try:
        return Runtime.create(settings)
    except ConfigError as err:
        typer.echo(f"configuration error: {err}", err=True)
        raise typer.Exit(2) from None
