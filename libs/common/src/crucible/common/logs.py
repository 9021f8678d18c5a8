"""The one logging setup of every `crucible` command and service: our loggers, third-party
loggers, Python warnings and third-party progress bars.

Three ways to talk, chosen once per process (`cli.py`'s callback: `--verbose`, `--log-format`):
- *human* (stdout is a terminal, `--log-format auto`): quiet. Warnings and errors as short
  lines on stderr; the command's own rich progress and summary say the rest. Third-party
  loggers at WARNING, their progress bars and Python warnings off.
- *machine* (`--log-format json`, or stdout is not a terminal): one JSON object per line on
  stderr (`--log-format text`, or CRUCIBLE_LOG_JSON=false off a terminal: plain lines), our
  loggers at CRUCIBLE_LOG_LEVEL (INFO), third-party at WARNING, warnings as log records.
- *verbose* (`--verbose`): everything at DEBUG, third-party progress bars and warnings on.

Imports only the standard library until JSON logs are asked for, so `crucible version` stays fast.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

from crucible.common.errors import ConfigError
from crucible.common.redaction import RedactingFilter

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("auto", "json", "text")
OWN_LOGGERS = "crucible"

# Read by Hugging Face Hub, datasets, tqdm and transformers when they are imported (commands
# import them lazily, after this is set). Only defaults: a user's own setting wins.
QUIET_THIRD_PARTY_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}
# Loggers that bring their own handler (they do not propagate to ours): quietened by a filter,
# which survives the library resetting the logger's level when it is imported.
OWN_HANDLER_LOGGERS = ("DeepSpeed", "transformers")


@dataclass(frozen=True)
class Output:
    """How this process talks. `human`: a person at a terminal (rich progress, tables);
    `log_format`: "human", "json" or "text"; `level`: our loggers' level."""

    human: bool
    verbose: bool
    log_format: str
    level: str

    @property
    def quiet_third_party(self) -> bool:
        return not self.verbose


def parse_level(value: str | None, source: str = "CRUCIBLE_LOG_LEVEL") -> str | None:
    """A log level name (any case), or None when unset; a bad name is a ConfigError naming `source`."""
    if value is None or not value.strip():
        return None
    name = value.strip().upper()
    if name not in LOG_LEVELS:
        raise ConfigError(f"{source}={value!r} is not a log level: use one of {', '.join(LOG_LEVELS)} (or --verbose)")
    return name


def resolve_output(
    *,
    verbose: bool = False,
    log_format: str = "auto",
    stdout_is_tty: bool = False,
    level: str | None = None,
    json_logs: bool = True,
) -> Output:
    """Pure: the way to talk from the flags, whether stdout is a terminal, CRUCIBLE_LOG_LEVEL
    (`level`, already parsed) and CRUCIBLE_LOG_JSON (`json_logs`)."""
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"--log-format {log_format!r}: use one of {', '.join(LOG_FORMATS)}")
    human = log_format == "auto" and stdout_is_tty
    fmt = "human" if human else _machine_format(log_format, json_logs)
    if verbose:
        return Output(human=human, verbose=True, log_format=fmt, level="DEBUG")
    return Output(human=human, verbose=False, log_format=fmt, level=level or ("WARNING" if human else "INFO"))


def output_from_environment(*, verbose: bool = False, log_format: str = "auto") -> Output:
    """`resolve_output` for this process: its stdout, CRUCIBLE_LOG_LEVEL and CRUCIBLE_LOG_JSON."""
    json_env = os.environ.get("CRUCIBLE_LOG_JSON", "true").strip().lower() not in ("0", "false", "no", "off")
    return resolve_output(
        verbose=verbose,
        log_format=log_format,
        stdout_is_tty=_isatty(sys.stdout),
        level=parse_level(os.environ.get("CRUCIBLE_LOG_LEVEL")),
        json_logs=json_env,
    )


def _machine_format(log_format: str, json_logs: bool) -> str:
    if log_format == "auto":
        return "json" if json_logs else "text"
    return "json" if log_format == "json" else "text"


_current: Output | None = None


def configured() -> Output | None:
    """The way this process talks, once `setup_logging` has run; None before."""
    return _current


def current_output() -> Output:
    """The way this process talks (set by `setup_logging`; before that, the default for its stdout)."""
    if _current is not None:
        return _current
    return resolve_output(stdout_is_tty=_isatty(sys.stdout))


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (rich's live display and test runners
    replace it), not to the stream there was at set-up."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _OursOrAtLeast(logging.Filter):
    """Passes our loggers' records at `own` and above, everyone else's at `others` and above:
    it sits on the handler, so a library that lowers its own logger's level stays quiet."""

    def __init__(self, own: int, others: int) -> None:
        super().__init__()
        self.own, self.others = own, others

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name == OWN_LOGGERS or record.name.startswith(OWN_LOGGERS + ".")
        return record.levelno >= (self.own if ours else self.others)


class _AtLeast(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


def _formatter(output: Output, service: str) -> logging.Formatter:
    if output.log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    if output.log_format == "text":
        return logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    return logging.Formatter("%(levelname)s %(name)s: %(message)s")


def setup_logging(output: Output | None = None, *, service: str = "crucible") -> Output:
    """Configure the root logger, Python warnings and third-party progress bars for `output`
    (default: from stdout, CRUCIBLE_LOG_LEVEL, CRUCIBLE_LOG_JSON). Safe to call again."""
    global _current
    if output is None:
        output = output_from_environment()
    _current = output
    own = logging.getLevelName(output.level)
    others = logging.DEBUG if output.verbose else logging.WARNING
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = _CurrentStderr()
    handler.setFormatter(_formatter(output, service))
    handler.addFilter(_OursOrAtLeast(own, others))
    handler.addFilter(RedactingFilter())  # a URL with a password in an exception or a message never leaves
    root.addHandler(handler)
    # The root's level lets both through; the handler's filter tells ours from the rest.
    root.setLevel(min(own, others))
    logging.captureWarnings(True)
    # A person at a terminal does not need library deprecation notices; logs keep them.
    logging.getLogger("py.warnings").setLevel(logging.ERROR if output.human and not output.verbose else logging.WARNING)
    if output.quiet_third_party:
        for name, value in QUIET_THIRD_PARTY_ENV.items():
            os.environ.setdefault(name, value)
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error" if output.human else "warning")
        for name in OWN_HANDLER_LOGGERS:
            lg = logging.getLogger(name)
            for f in [f for f in lg.filters if isinstance(f, _AtLeast)]:
                lg.removeFilter(f)
            lg.addFilter(_AtLeast(logging.ERROR if output.human else logging.WARNING))
    return output
