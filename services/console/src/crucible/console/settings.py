"""Where the console listens and how it knows who you are. Every field is `CRUCIBLE_CONSOLE_<NAME>`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRUCIBLE_CONSOLE_", extra="ignore")

    host: str = "0.0.0.0"
    port: int = Field(default=8090, ge=0, le=65535, description="HTTP port of `crucible serve console`.")
    session_secret: str | None = Field(
        default=None,
        description="Signs the session cookie; unset = random per process (sessions end on restart).",
    )
    secure_cookies: bool = Field(default=False, description="Mark the session cookie Secure (behind TLS).")
    # Built-in token login, for small installs: {"alice": {"role": "reviewer", "token_sha256": "<hex>"}}.
    users: dict[str, dict[str, str]] = Field(default_factory=dict)
    # Trusted proxy headers (oauth2-proxy's --set-xauthrequest / --pass-user-headers convention).
    trust_proxy_headers: bool = Field(
        default=False, description="Take identity from the headers below; only behind a proxy that sets them."
    )
    user_header: str = "X-Forwarded-User"
    email_header: str = "X-Forwarded-Email"
    groups_header: str = "X-Forwarded-Groups"
    # Which group grants which role, e.g. {"crucible-operators": "operator", "crucible-raters": "rater"}.
    group_roles: dict[str, str] = Field(default_factory=dict)
    default_role: str = Field(default="viewer", description="Role of a proxy-authenticated user in no mapped group.")
    gateway_address: str = Field(default="", description="gRPC address of a gateway (rollout status, promote, abort).")
    gateway_admin_token: str | None = Field(default=None, description="The gateway's admin bearer token.")
    page_size: int = Field(default=50, ge=1, le=500)
