"""How a service authenticates to NATS: a password in the URL, a `.creds` file (JWT + nkey seed), an
nkey seed file, and TLS (a private CA, or mutual TLS with a client certificate). Also the reply-inbox
prefix: every user gets its own (`_INBOX_<user>`), so the server can let each user read only its own
replies (JetStream pull deliveries arrive on them: a shared `_INBOX.>` let any user read RAW).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_INBOX_PREFIX = "_INBOX"


@dataclass(frozen=True)
class NatsSecurity:
    """Connection options beyond the URL; all optional (the embedded server needs none)."""

    creds_file: Path | None = None
    nkey_seed_file: Path | None = None
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    inbox_prefix: str | None = None

    def __post_init__(self) -> None:
        for name in ("creds_file", "nkey_seed_file", "tls_ca_file", "tls_cert_file", "tls_key_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"NATS {name.replace('_', ' ')} {path} does not exist")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("NATS TLS needs both a client certificate and its key, or neither")
        if self.creds_file is not None and self.nkey_seed_file is not None:
            raise ValueError("give a NATS .creds file or an nkey seed file, not both")


def url_user(url: str) -> str | None:
    """The user named in the first server URL (`nats://user:pass@host`), if any."""
    first = url.split(",", maxsplit=1)[0].strip()
    return urlsplit(first).username or None


def inbox_prefix(url: str, security: NatsSecurity | None = None) -> str:
    """`_INBOX_<user>` for the URL's user (or the configured prefix); `_INBOX` when anonymous."""
    if security is not None and security.inbox_prefix:
        return security.inbox_prefix
    user = url_user(url)
    return f"{DEFAULT_INBOX_PREFIX}_{user}" if user else DEFAULT_INBOX_PREFIX


def tls_context(security: NatsSecurity, url: str) -> ssl.SSLContext | None:
    """A verifying client context when TLS is asked for (a CA, a client certificate, or `tls://`)."""
    wants = security.tls_ca_file or security.tls_cert_file or url.strip().startswith("tls://")
    if not wants:
        return None
    ctx = ssl.create_default_context(cafile=str(security.tls_ca_file) if security.tls_ca_file else None)
    if security.tls_cert_file and security.tls_key_file:
        ctx.load_cert_chain(str(security.tls_cert_file), str(security.tls_key_file))
    return ctx


def connect_options(url: str, security: NatsSecurity | None) -> dict[str, Any]:
    """Keyword arguments for `nats.connect` beyond the URL."""
    security = security or NatsSecurity()
    options: dict[str, Any] = {"inbox_prefix": inbox_prefix(url, security)}
    tls = tls_context(security, url)
    if tls is not None:
        options["tls"] = tls
    if security.creds_file is not None:
        options["user_credentials"] = str(security.creds_file)
    if security.nkey_seed_file is not None:
        options["nkeys_seed"] = str(security.nkey_seed_file)
    return options
