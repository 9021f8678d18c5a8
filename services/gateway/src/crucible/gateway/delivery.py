"""Delivering an adapter to the serving fleet, and checking it answers before any traffic moves.

The unit of deployment is a LoRA adapter on the base model the fleet already runs, selected per
request. How it reaches the servers depends on the server:

- `RuntimeLoad` — vLLM (and tgi-dev, which speaks the same API): `POST /v1/load_lora_adapter
  {"lora_name", "lora_path"}` on every replica, then a one-token request naming the adapter.
- `RestartLoad` — TGI, which reads `LORA_ADAPTERS` only at start: the pods' entrypoint
  (`crucible serving prepare`) pulls every `canary`/`serving` adapter, so the gateway restarts
  the TGI Deployments through the Kubernetes API and then checks the adapter answers.
- `ExternalBackend` — the candidate runs on its own URL (a new base model): check only.

Before any of them, `check_adapter` refuses what cannot work (no adapter, missing or corrupt
files, another base), so a bad candidate never touches the fleet.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from crucible.gateway import instruments

log = logging.getLogger(__name__)

WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


class DeliveryError(RuntimeError):
    """The adapter cannot be delivered; `reason` is a short label for metrics and events."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class AdapterRef:
    """What the gateway knows of a registered model when it delivers it."""

    name: str
    base_model: str
    adapter_uri: str


@dataclass
class DeliveryReport:
    model: str
    method: str
    endpoints: list[str]
    seconds: float = 0.0
    verified: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "method": self.method,
            "endpoints": list(self.endpoints),
            "seconds": round(self.seconds, 3),
            "verified": self.verified,
            **self.detail,
        }


class AdapterDelivery(Protocol):
    method: str

    async def deliver(self, adapter: AdapterRef) -> DeliveryReport: ...

    async def withdraw(self, name: str) -> None: ...


def same_base(registered: str, fleet: str) -> bool:
    """Whether a model trained on `registered` can run on a fleet serving `fleet`: the same id, or
    the same final path component (the trainer records a folder; a fleet names it by id)."""

    def norm(x: str) -> str:
        return PurePosixPath(x.rstrip("/").removeprefix("file://")).name.lower()

    return bool(registered) and (registered == fleet or norm(registered) == norm(fleet))


def check_adapter(artifacts: Any, adapter: AdapterRef, fleet_base: str) -> dict[str, Any]:
    """Refuse an adapter that cannot work on the fleet; returns its `adapter_config.json`."""
    if not adapter.adapter_uri:
        raise DeliveryError("missing", f"model {adapter.name} has no adapter in the registry")
    if not same_base(adapter.base_model, fleet_base):
        raise DeliveryError(
            "base_mismatch",
            f"model {adapter.name} was trained on {adapter.base_model!r}; the fleet serves {fleet_base!r}",
        )
    key = artifact_key(artifacts, adapter.adapter_uri)
    try:
        config = json.loads(artifacts.read_bytes(f"{key}/adapter_config.json"))
    except FileNotFoundError:
        raise DeliveryError("missing", f"{adapter.adapter_uri}/adapter_config.json does not exist") from None
    except ValueError as exc:
        raise DeliveryError("corrupt", f"{adapter.adapter_uri}/adapter_config.json is not JSON: {exc}") from None
    if not isinstance(config, dict) or config.get("peft_type", "LORA") != "LORA":
        raise DeliveryError("corrupt", f"{adapter.adapter_uri} is not a LoRA adapter config")
    if not any(artifacts.exists(f"{key}/{w}") for w in WEIGHT_FILES):
        raise DeliveryError("missing", f"{adapter.adapter_uri} holds no adapter weights ({' or '.join(WEIGHT_FILES)})")
    return config


def artifact_key(artifacts: Any, uri: str) -> str:
    root = artifacts.root_url.rstrip("/") + "/"
    if not uri.startswith(root):
        raise DeliveryError("missing", f"{uri} is not in the artifact store {artifacts.root_url}")
    return uri[len(root) :].rstrip("/")


def replica_urls(url: str) -> list[str]:
    """Every replica behind `url`: a headless Service's name resolves to one address per pod,
    and a runtime load must reach each of them. A name that resolves to one address (or an IP)
    gives the URL itself."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or 80, type=socket.SOCK_STREAM)
    except OSError:
        return [url]
    addresses = sorted({str(info[4][0]) for info in infos})
    if len(addresses) <= 1:
        return [url]
    netloc = lambda a: (f"[{a}]" if ":" in a else a) + (f":{parts.port}" if parts.port else "")  # noqa: E731
    return [urlunsplit((parts.scheme, netloc(a), parts.path, "", "")) for a in addresses]


def _error_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err)[:300]
        return str(body.get("message") or err)[:300]
    return str(body)[:300]


class RuntimeLoad:
    """vLLM's runtime LoRA API (tgi-dev implements the same routes)."""

    method = "runtime_api"

    def __init__(
        self,
        url: str,
        adapter_path: Callable[[AdapterRef], str],
        *,
        timeout: float = 120.0,
        client: httpx.AsyncClient | None = None,
        resolve_replicas: Callable[[str], list[str]] = replica_urls,
        sync_poll: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.sync_poll = sync_poll
        self.adapter_path = adapter_path
        self.timeout = timeout
        self.client = client or httpx.AsyncClient(timeout=timeout)
        self.resolve_replicas = resolve_replicas

    async def deliver(self, adapter: AdapterRef) -> DeliveryReport:
        started = time.perf_counter()
        endpoints = self.resolve_replicas(self.url)
        path = self.adapter_path(adapter)
        for base in endpoints:
            await self._load_when_synced(base, adapter.name, path)
        for base in endpoints:
            await self._verify(base, adapter.name)
        return DeliveryReport(
            adapter.name,
            self.method,
            [f"{b}/v1/load_lora_adapter" for b in endpoints],
            time.perf_counter() - started,
            verified=True,
            detail={"lora_path": path},
        )

    async def _load_when_synced(self, base: str, name: str, path: str) -> None:
        """Load, waiting while the server does not see the folder yet: `crucible serving sync` fetches
        an adapter within an interval of its evaluation, which may be just after `model.evaluated`."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                await self._load(base, name, path)
                return
            except DeliveryError as exc:
                if exc.reason != "not_synced" or time.monotonic() + self.sync_poll > deadline:
                    raise
                log.info("%s: waiting for %s to appear at %s", base, name, path)
                await asyncio.sleep(self.sync_poll)

    async def _load(self, base: str, name: str, path: str) -> None:
        try:
            resp = await self.client.post(
                f"{base}/v1/load_lora_adapter", json={"lora_name": name, "lora_path": path}, timeout=self.timeout
            )
        except httpx.TimeoutException:
            raise DeliveryError("timeout", f"{base}/v1/load_lora_adapter did not answer in {self.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise DeliveryError("unreachable", f"{base}/v1/load_lora_adapter: {exc}") from None
        if resp.status_code == 200:
            log.info("loaded adapter %s from %s into %s", name, path, base)
            return
        message = _error_message(resp)
        if resp.status_code == 400 and "already" in message.lower():
            log.info("adapter %s is already loaded in %s", name, base)
            return
        if resp.status_code == 404 and "load_lora_adapter" not in message:  # the folder, not the route
            raise DeliveryError("not_synced", f"{base} cannot see {path} yet: {message}")
        raise DeliveryError("load_refused", f"{base} refused to load {name} from {path}: {resp.status_code} {message}")

    async def _verify(self, base: str, name: str) -> None:
        body = {"model": name, "prompt": "Hello", "max_tokens": 1, "temperature": 0.0}
        try:
            resp = await self.client.post(f"{base}/v1/completions", json=body, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise DeliveryError("verify_failed", f"{base}: adapter {name} did not answer: {exc!r}") from None
        if resp.status_code != 200:
            raise DeliveryError(
                "verify_failed", f"{base}: adapter {name} answered {resp.status_code} {_error_message(resp)}"
            )

    async def withdraw(self, name: str) -> None:
        """Unload from every replica, best effort: a left-over adapter only costs memory."""
        for base in self.resolve_replicas(self.url):
            try:
                resp = await self.client.post(f"{base}/v1/unload_lora_adapter", json={"lora_name": name})
                if resp.status_code not in (200, 404):
                    log.warning("unloading %s from %s: %s %s", name, base, resp.status_code, _error_message(resp))
            except httpx.HTTPError as exc:
                log.warning("unloading %s from %s failed: %s", name, base, exc)

    async def loaded(self) -> set[str]:
        resp = await self.client.get(f"{self.url}/v1/models")
        resp.raise_for_status()
        return {str(m.get("id")) for m in resp.json().get("data", [])}


class RestartLoad:
    """TGI: restart the Deployments so their entrypoint pulls the new `canary` adapter, then check
    it answers through `adapter_id`. The registry must already mark the model `canary`."""

    method = "restart"

    def __init__(
        self,
        url: str,
        deployments: list[str],
        namespace: str,
        *,
        timeout: float = 900.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.deployments = deployments
        self.namespace = namespace
        self.timeout = timeout
        self.client = client or httpx.AsyncClient(timeout=60.0)

    async def deliver(self, adapter: AdapterRef) -> DeliveryReport:
        from crucible.gateway.k8s_restart import restart_deployments

        started = time.perf_counter()
        try:
            await restart_deployments(
                self.deployments,
                self.namespace,
                reason=f"deliver adapter {adapter.name}",
                timeout=self.timeout,
                adapters=[adapter.name],
            )
        except Exception as exc:
            raise DeliveryError("restart_failed", f"restarting {', '.join(self.deployments)}: {exc}") from None
        body = {"inputs": "Hello", "parameters": {"max_new_tokens": 1, "adapter_id": adapter.name}}
        resp = await self.client.post(f"{self.url}/generate", json=body)
        if resp.status_code != 200:
            raise DeliveryError(
                "verify_failed", f"adapter {adapter.name} answered {resp.status_code} {_error_message(resp)}"
            )
        endpoints = [f"deployment/{d}" for d in self.deployments]
        return DeliveryReport(adapter.name, self.method, endpoints, time.perf_counter() - started, verified=True)

    async def withdraw(self, name: str) -> None:
        """Nothing to do now: the next restart's `serving prepare` leaves out a rolled-back adapter."""


class ExternalBackend:
    """The candidate is served on its own URL (e.g. a new base model): nothing to load."""

    method = "external"

    async def deliver(self, adapter: AdapterRef) -> DeliveryReport:
        return DeliveryReport(adapter.name, self.method, [], verified=False)

    async def withdraw(self, name: str) -> None:
        return None


def count_delivery(method: str, outcome: str, reason: str = "") -> None:
    instruments.DELIVERIES.labels(method, outcome, reason).inc()
