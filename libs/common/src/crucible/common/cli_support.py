"""What every CLI command needs, in one place: a Runtime from the environment (the policy
validated for every installed service), the shared options, and the one error path.

The error path (`CrucibleGroup`, the root command's class): whatever a command raises is
reported as `error: <what to fix>` lines on stderr, never a traceback:
- a bad argument: `typer.BadParameter` / `UsageError` (exit 2); a bad path: `UsageError`, or an
  unhandled FileNotFoundError/PermissionError naming the file (exit 2);
- a bad `CRUCIBLE_*` variable or policy value: `ConfigError` (exit 2), every problem on its line;
- a missing model, record, version: `NotFoundError` (exit 1).
`--verbose` adds the traceback for the path errors.

Light on purpose (typer and click only): every service's CLI module imports it, and
`crucible --help` imports every service's CLI module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from crucible.common.errors import CrucibleError, UsageError

try:  # typer >= 0.2x carries its own copy of click
    from typer._click import Context
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer, on click itself
    from click import Context
    from click import exceptions as click_errors

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

PolicyOpt = Annotated[Path | None, typer.Option("--policy", help="Policy YAML (default: ./crucible.yaml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
# The offline commands (scrub, score, dedup): records on stdout unless --out, so the summary
# goes to stdout only when asked and the records are in a file.
SummaryJsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout (with --out FILE).")]


def runtime_from_env(policy_file: Path | None = None, *, migrate: bool = True) -> Runtime:
    """Settings from `CRUCIBLE_*`, the policy validated. A bad variable or policy value raises
    ConfigError (the CLI prints it and exits 2); `--policy` naming no file is a UsageError."""
    from crucible.common import logs
    from crucible.common.config import load_settings
    from crucible.common.runtime import Runtime

    settings = load_settings()
    if policy_file is not None:
        if not policy_file.is_file():
            raise UsageError(f"--policy {policy_file}: no such file")
        settings.policy_file = policy_file
    if logs.configured() is None:  # called outside the CLI (a bench, a script): set up once
        logs.setup_logging()
    return Runtime.create(settings, migrate=migrate)


def error_lines(exc: BaseException) -> tuple[list[str], int] | None:
    """The one-line report and exit code for an error a person can fix, or None (a bug: traceback)."""
    if isinstance(exc, click_errors.NoArgsIsHelpError):
        return None
    if isinstance(exc, click_errors.UsageError):
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        return [exc.format_message().replace("\n", " ").replace("Value error, ", "") + where], 2
    if isinstance(exc, CrucibleError):
        return exc.lines(), exc.exit_code
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError | PermissionError) and exc.filename:
        return [f"{exc.filename}: {exc.strerror or type(exc).__name__}"], 2
    settings_error = _settings_error(exc)
    if settings_error is not None:
        return settings_error.lines(), settings_error.exit_code
    return None


def _settings_error(exc: BaseException) -> CrucibleError | None:
    """A pydantic ValidationError raised while reading a `BaseSettings` class (ours or a service's,
    e.g. GatewaySettings), as a ConfigError naming the environment variables."""
    if type(exc).__module__.split(".")[0] not in ("pydantic", "pydantic_core"):
        return None
    from pydantic_settings import BaseSettings

    from crucible.common.config import settings_error

    title = getattr(exc, "title", None)
    pending: list[type[BaseSettings]] = [BaseSettings]
    while pending:
        cls = pending.pop()
        if cls.__name__ == title and cls is not BaseSettings:
            return settings_error(exc, cls)  # type: ignore[arg-type]
        pending.extend(cls.__subclasses__())
    return None


def report(exc: BaseException) -> int | None:
    """Print `error: ...` for an error a person can fix and return its exit code; None otherwise."""
    found = error_lines(exc)
    if found is None:
        return None
    lines, code = found
    from crucible.common import logs

    output = logs.configured()
    if output is not None and output.verbose and not isinstance(exc, CrucibleError | click_errors.UsageError):
        return None  # --verbose: the traceback says more than the line
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    return code


class CrucibleGroup(TyperGroup):
    """The root command: every sub-command runs inside its `invoke`, so this is the one place
    where errors become `error:` lines and exit codes (in `main` and under `CliRunner` alike)."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any
    ) -> Context:
        # The root's own options are parsed here, before `invoke`.
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click_errors.UsageError as exc:
            code = report(exc)
            if code is None:
                raise
            raise typer.Exit(code) from None

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except typer.Exit:
            raise
        except Exception as exc:
            code = report(exc)
            if code is None:
                raise
            raise typer.Exit(code) from None
