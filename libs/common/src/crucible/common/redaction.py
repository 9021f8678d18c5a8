"""Credentials out of everything printed or stored: the one place URLs lose their user-info.

`nats://user:secret@host` becomes `nats://user:***@host`; a URL whose user-info is a bare token
(NATS and Redis token auth put the token there) becomes `scheme://***@host`. Used for summary.json,
the registry's `runs.summary`, the run view, the console and every log line (`RedactingFilter`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

# scheme://user-info@ — the user-info may hold anything but '/', '@' and whitespace (a password may
# hold ':' and percent escapes). Matched anywhere in a text, so exception messages are covered too.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<info>[^/@\s\"'<>]+)@")
MASK = "***"


def _mask(match: re.Match[str]) -> str:
    user, sep, _password = match.group("info").partition(":")
    shown = f"{user}:{MASK}" if sep else MASK
    return f"{match.group('scheme')}{shown}@"


def redact_text(text: str) -> str:
    """Every URL in `text` with its password (or bare token) replaced by `***`."""
    if "@" not in text:  # the common case costs one scan
        return text
    return _USERINFO.sub(_mask, text)


def redact_url(url: str) -> str:
    """One URL (or a comma-separated list of them) with its credentials masked."""
    return redact_text(url)


def redact(value: Any) -> Any:
    """A JSON-like value (a run summary) with every string redacted; other values unchanged."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Masks credentials in a log record's message (arguments included) before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatted once here, redacted, and handed on as text: both the plain and the JSON
            # formatter print `exc_text` when `exc_info` is gone.
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact_text(text), None
        return True
