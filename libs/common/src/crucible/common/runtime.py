"""What a running service gets: settings, policy, registry, artifacts, and the bus.

One `Runtime` per process. Building it validates the policy (a bad value stops start-up)
and migrates the registry. The bus connection is opened by `await runtime.connect()`.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from crucible.common.artifacts import ArtifactStore
from crucible.common.config import Policy, Settings, default_policy_path, load_policy
from crucible.common.plugins import installed_policy_models
from crucible.common.registry import Registry

if TYPE_CHECKING:
    from crucible.common.bus import Bus

log = logging.getLogger(__name__)


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


@dataclass
class Runtime:
    settings: Settings
    policy: Policy
    registry: Registry
    artifacts: ArtifactStore
    run_id: str = field(default_factory=new_run_id)
    bus: Bus | None = None

    @classmethod
    def create(cls, settings: Settings | None = None, policy: Policy | None = None, *, migrate: bool = True) -> Runtime:
        """Without `policy`, the policy file is validated against every installed service's section."""
        settings = settings or Settings()
        settings.home.mkdir(parents=True, exist_ok=True)
        policy = policy or load_policy(default_policy_path(settings), installed_policy_models())
        registry = Registry(settings.resolved_database_url())
        if migrate:
            registry.migrate()
        artifacts = ArtifactStore(settings.resolved_artifacts_url())
        return cls(settings=settings, policy=policy, registry=registry, artifacts=artifacts)

    async def connect(self, url: str) -> Bus:
        from crucible.common.bus import Bus

        self.bus = await Bus.connect(url, self.policy.bus, security=self.settings.nats_security())
        return self.bus

    def require_bus(self) -> Bus:
        if self.bus is None:
            raise RuntimeError("the bus is not connected: call `await runtime.connect(url)` first")
        return self.bus

    def subject_secret(self) -> bytes:
        """The HMAC secret for subject tokens. Without CRUCIBLE_SUBJECT_SECRET, a random one is
        generated once into CRUCIBLE_HOME (fine for the demo; production sets the Secret)."""
        if self.settings.subject_secret:
            return self.settings.subject_secret.encode()
        path = self.settings.home / "subject_secret"
        if not path.exists():
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
            log.warning("CRUCIBLE_SUBJECT_SECRET is unset: generated a demo secret in %s; set it in production", path)
        return path.read_text().strip().encode()

    def run_dir(self, run_id: str | None = None) -> Path:
        path = self.settings.home / "runs" / (run_id or self.run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def close(self) -> None:
        if self.bus is not None:
            await self.bus.close()
            self.bus = None
        self.registry.dispose()
