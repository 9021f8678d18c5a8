"""Restart the TGI Deployments through the Kubernetes API, as `kubectl rollout restart` does, and
wait for the new pods: TGI reads LORA_ADAPTERS only at start, so a new candidate adapter reaches
it by a rolling restart whose pods run `crucible serving prepare` again.

The registry must already mark the candidate `canary` when this is called (that is what
`prepare` pulls). The patch changes the pod template's annotations, `kubectl.kubernetes.io/
restartedAt` (the one kubectl sets) and `crucible.dev/adapters` (the adapters the new pods should
load, for whoever reads `kubectl describe`), so Kubernetes rolls the pods with the Deployment's own
strategy and PodDisruptionBudget. The chart's RBAC lets the gateway get/patch only those
Deployments. `rollout_progress` is kubectl's `rollout status` test, a pure function.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
ADAPTERS_ANNOTATION = "crucible.dev/adapters"
REASON_ANNOTATION = "crucible.dev/restart-reason"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class RestartError(RuntimeError):
    """A restart that could not be made or did not complete in time."""


def restart_patch(at: dt.datetime, *, adapters: Sequence[str] = (), reason: str = "") -> dict[str, Any]:
    """The strategic-merge patch of a Deployment that rolls its pods."""
    annotations = {
        RESTARTED_AT: at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ADAPTERS_ANNOTATION: ",".join(adapters),
    }
    if reason:
        annotations[REASON_ANNOTATION] = reason[:256]
    return {"spec": {"template": {"metadata": {"annotations": annotations}}}}


def rollout_progress(deployment: dict[str, Any]) -> tuple[bool, str]:
    """(done, what it waits for) for a Deployment as the API returns it (camelCase JSON).

    Done when the controller has seen the newest spec (observedGeneration >= generation) and all
    desired replicas are updated and available with no old ones left. A Progressing condition with
    reason ProgressDeadlineExceeded raises RestartError: Kubernetes itself gave up."""
    meta, spec, status = deployment.get("metadata", {}), deployment.get("spec", {}), deployment.get("status") or {}
    generation, observed = int(meta.get("generation") or 0), int(status.get("observedGeneration") or 0)
    if observed < generation:
        return False, f"the controller to observe generation {generation} (observed {observed})"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            raise RestartError(f"rollout exceeded its progress deadline: {cond.get('message', '')}")
    desired = int(spec.get("replicas") if spec.get("replicas") is not None else 1)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < desired:
        return False, f"{updated} of {desired} replicas updated"
    if total > updated:
        return False, f"{total - updated} old replicas to terminate"
    if available < updated:
        return False, f"{available} of {updated} updated replicas available"
    return True, f"{updated} of {desired} replicas updated and available"


def in_cluster_configuration(service_account_dir: Path = SERVICE_ACCOUNT_DIR) -> Any:
    """A client Configuration from the pod's service account (token + CA) and
    KUBERNETES_SERVICE_HOST/PORT, the way every in-cluster client connects."""
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    try:
        config.load_incluster_config(
            client_configuration=configuration,
            token_filename=str(service_account_dir / "token"),
            cert_filename=str(service_account_dir / "ca.crt"),
        )
    except config.ConfigException as err:
        raise RestartError(f"not running in a Kubernetes pod with a service account token: {err}") from None
    return configuration


async def restart_deployments(
    names: Sequence[str],
    namespace: str,
    *,
    reason: str,
    timeout: float,
    adapters: Sequence[str] = (),
    configuration: Any = None,
    poll_interval: float = 2.0,
) -> None:
    """Roll every Deployment in `names` and wait until each rollout completes; RestartError names
    the Deployment and what it still waited for when `timeout` seconds pass. `configuration`
    defaults to the in-cluster one."""
    from kubernetes_asyncio import client

    if not names:
        return
    configuration = configuration or in_cluster_configuration()
    deadline = time.monotonic() + timeout
    patch = restart_patch(dt.datetime.now(dt.UTC), adapters=adapters, reason=reason)
    async with client.ApiClient(configuration) as api_client:
        apps = client.AppsV1Api(api_client)
        for name in names:
            try:
                await apps.patch_namespaced_deployment(name, namespace, patch)
            except client.ApiException as err:
                raise RestartError(f"cannot restart deployment {namespace}/{name}: {_api_reason(err)}") from None
            log.info("restarting deployment %s/%s (%s): adapters %s", namespace, name, reason, ",".join(adapters))
        await asyncio.gather(
            *(_wait(apps, api_client, name, namespace, deadline, timeout, poll_interval) for name in names)
        )


async def _wait(
    apps: Any, api_client: Any, name: str, namespace: str, deadline: float, timeout: float, poll_interval: float
) -> None:
    from kubernetes_asyncio import client

    waiting = "the first status read"
    while True:
        try:
            obj = await apps.read_namespaced_deployment(name, namespace)
        except client.ApiException as err:
            raise RestartError(f"cannot read deployment {namespace}/{name}: {_api_reason(err)}") from None
        try:
            done, waiting = rollout_progress(api_client.sanitize_for_serialization(obj))
        except RestartError as err:
            raise RestartError(f"deployment {namespace}/{name}: {err}") from None
        if done:
            log.info("deployment %s/%s restarted: %s", namespace, name, waiting)
            return
        if time.monotonic() >= deadline:
            raise RestartError(
                f"deployment {namespace}/{name}: rollout not complete after {timeout:.0f}s, waiting for {waiting}"
            )
        await asyncio.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))


def _api_reason(err: Any) -> str:
    hint = {
        403: " (the gateway's ServiceAccount needs get/patch on it: the chart's serving RBAC)",
        404: " (no such Deployment: check CRUCIBLE_GATEWAY_RESTART_DEPLOYMENTS and CRUCIBLE_GATEWAY_NAMESPACE)",
    }.get(int(err.status or 0), "")
    return f"HTTP {err.status} {err.reason}{hint}"
