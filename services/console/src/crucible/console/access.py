"""Who may do what. Pure: identity from trusted proxy headers or a token, roles in order, CSRF tokens.

Roles are ordered viewer < reviewer < rater < operator: each may do what the ones before it may. The
proxy headers follow oauth2-proxy (`X-Forwarded-User`, `X-Forwarded-Groups`, comma-separated groups);
they are believed only when `trust_proxy_headers` is on, because anyone can send them to an open port.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

ROLES = ("viewer", "reviewer", "rater", "operator")


class AccessDenied(PermissionError):
    pass


@dataclass(frozen=True)
class Identity:
    user: str
    role: str
    via: str  # "proxy" | "token"

    def may(self, role: str) -> bool:
        return rank(self.role) >= rank(role)


def rank(role: str) -> int:
    try:
        return ROLES.index(role)
    except ValueError:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}") from None


def require(identity: Identity | None, role: str) -> Identity:
    if identity is None:
        raise AccessDenied("log in first")
    if not identity.may(role):
        raise AccessDenied(f"{identity.user} is a {identity.role}; this needs the {role} role")
    return identity


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def identity_from_token(users: Mapping[str, Mapping[str, str]], user: str, token: str) -> Identity | None:
    """The configured user whose token this is; compared in constant time on the SHA-256 digests."""
    entry = users.get(user)
    if not entry or not token:
        return None
    expected = entry.get("token_sha256") or (token_digest(entry["token"]) if entry.get("token") else "")
    if not expected or not hmac.compare_digest(expected, token_digest(token)):
        return None
    return Identity(user=user, role=_checked(entry.get("role", "viewer")), via="token")


def identity_from_headers(
    headers: Mapping[str, str],
    *,
    user_header: str,
    email_header: str,
    groups_header: str,
    group_roles: Mapping[str, str],
    default_role: str,
) -> Identity | None:
    """The proxy's user, with the highest role any of its groups maps to. Header names are case-insensitive."""
    lowered = {k.lower(): v for k, v in headers.items()}
    user = (lowered.get(user_header.lower()) or lowered.get(email_header.lower()) or "").strip()
    if not user:
        return None
    groups = [g.strip() for g in lowered.get(groups_header.lower(), "").split(",") if g.strip()]
    roles = [_checked(group_roles[g]) for g in groups if g in group_roles]
    role = max(roles, key=rank) if roles else _checked(default_role)
    return Identity(user=user, role=role, via="proxy")


def _checked(role: str) -> str:
    rank(role)
    return role


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
