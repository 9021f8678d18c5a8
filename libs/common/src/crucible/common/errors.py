"""The errors a `crucible` command reports as one line instead of a traceback, and the exit
code each gets (`cli.main` prints them). Imports nothing, so any module may raise them.

- `ConfigError` (exit 2): a bad environment variable, policy value or file; the message says
  what to fix. It may hold several problems, one per line (every policy section's at once).
- `UsageError` (exit 2): a bad argument or path given on the command line.
- `NotFoundError` (exit 1): a named object (model, record, version, plan) does not exist.
  A `LookupError`, so `except LookupError` in older callers still catches it.
"""

from __future__ import annotations


class CrucibleError(Exception):
    """An error the CLI reports as `error: <message>` (one line per problem) and exits with `exit_code`."""

    exit_code = 1

    def lines(self) -> list[str]:
        return [line for line in str(self).splitlines() if line.strip()] or [type(self).__name__]


class ConfigError(CrucibleError, ValueError):
    """A configuration value is wrong. The message names the key and the allowed values."""

    exit_code = 2


class UsageError(CrucibleError):
    """A bad argument, option or path on the command line (exit 2)."""

    exit_code = 2


class NotFoundError(CrucibleError, LookupError):
    """The model, record, version or plan a command names does not exist (exit 1)."""

    exit_code = 1
