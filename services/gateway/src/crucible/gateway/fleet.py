"""The serving fleet behind the gateway: one pool, one base model, adapters chosen per request.

Stable and canary are both backends on the same fleet: the base model, or an adapter on it
(`adapter_id` for TGI, the adapter's name as `model` for vLLM). A candidate on a new base model
runs on its own URL instead (`crucible rollout start MODEL --url ...`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crucible.gateway.delivery import AdapterDelivery, AdapterRef, ExternalBackend, RestartLoad, RuntimeLoad
from crucible.gateway.state import BackendSpec

if TYPE_CHECKING:
    from crucible.gateway.policy import GatewayPolicy, GatewaySettings


@dataclass
class Fleet:
    url: str
    kind: str  # tgi | openai | vllm: the protocol the gateway speaks to it
    base_model: str  # the model id the fleet serves (registry `base_model` of its adapters)
    delivery: AdapterDelivery
    artifacts: Any  # crucible.common.artifacts.ArtifactStore: where adapters are checked

    def base_spec(self) -> BackendSpec:
        return BackendSpec(model=self.base_model, url=self.url, kind=self.kind)

    def adapter_spec(self, name: str) -> BackendSpec:
        return BackendSpec(model=name, url=self.url, kind=self.kind, adapter_id=name)


def adapter_path_in(adapter_dir: str) -> Any:
    """Adapters synced by `crucible serving sync` into a folder the server reads: `<dir>/<name>`."""

    def path(ref: AdapterRef) -> str:
        return f"{adapter_dir.rstrip('/')}/{ref.name}"

    return path


def adapter_path_from_store(artifacts: Any, scratch: Path) -> Any:
    """A server on this machine reads the adapter straight from the artifact store (a copy under
    `scratch` when the store is remote): the embedded default."""
    from crucible.gateway.delivery import artifact_key

    def path(ref: AdapterRef) -> str:
        key = artifact_key(artifacts, ref.adapter_uri)
        try:
            return str(artifacts.local_path(key))
        except ValueError:
            return str(artifacts.get_dir(key, scratch / key.replace("/", "_")))

    return path


def fleet_from_settings(
    settings: GatewaySettings, policy: GatewayPolicy, artifacts: Any, *, url: str, base_model: str, scratch: Path
) -> Fleet:
    """The fleet a deployment describes: vLLM loads adapters at runtime; TGI is restarted when
    Deployments to restart are named; anything else serves candidates on their own URLs."""
    delivery: AdapterDelivery
    if settings.backend_kind == "vllm":
        path = (
            adapter_path_in(settings.adapter_dir)
            if settings.adapter_dir
            else adapter_path_from_store(artifacts, scratch)
        )
        delivery = RuntimeLoad(url, path, timeout=policy.delivery_timeout_seconds)
    elif settings.backend_kind == "tgi" and settings.restart_deployments:
        delivery = RestartLoad(
            url, list(settings.restart_deployments), settings.namespace, timeout=policy.delivery_timeout_seconds
        )
    else:
        delivery = ExternalBackend()
    return Fleet(url=url, kind=settings.backend_kind, base_model=base_model, delivery=delivery, artifacts=artifacts)
