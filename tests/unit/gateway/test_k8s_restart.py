"""The TGI restart path through the Kubernetes API (crucible.gateway.k8s_restart).

No Kubernetes API server can run on this machine (none is packaged in the registries it reaches),
so the client talks to a small HTTP server here that checks the exact requests (method, path,
content type, bearer token, patch body) and plays the Deployment controller: each status read
moves the rollout one step (observe the new generation, update pods, make them available)."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import ipaddress
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from crucible.gateway.k8s_restart import (
    RestartError,
    in_cluster_configuration,
    restart_deployments,
    restart_patch,
    rollout_progress,
)

TOKEN = "sa-token-123"


def deployment(name: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "crucible", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "tgi"}]}},
        },
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
        },
    }


class FakeApiServer:
    """Deployments in one namespace; `stuck_at` stops the controller at a step for a name."""

    def __init__(self, *names: str) -> None:
        self.deployments = {n: deployment(n) for n in names}
        self.requests: list[dict[str, Any]] = []
        self.stuck_at: dict[str, str] = {}
        self.deadline_exceeded: set[str] = set()
        self.steps: dict[str, list[str]] = {}

    def app(self) -> web.Application:
        app = web.Application()
        path = "/apis/apps/v1/namespaces/{ns}/deployments/{name}"
        app.router.add_patch(path, self.patch)
        app.router.add_get(path, self.get)
        return app

    def _record(self, request: web.Request, body: Any = None) -> None:
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "content_type": request.headers.get("Content-Type"),
                "authorization": request.headers.get("Authorization"),
                "body": body,
            }
        )

    async def patch(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._record(request, body)
        dep = self.deployments.get(request.match_info["name"])
        if dep is None or request.match_info["ns"] != "crucible":
            return web.json_response({"kind": "Status", "code": 404, "reason": "NotFound"}, status=404)
        annotations = dep["spec"]["template"]["metadata"].setdefault("annotations", {})
        annotations.update(body["spec"]["template"]["metadata"]["annotations"])
        dep["metadata"]["generation"] += 1
        self.steps[dep["metadata"]["name"]] = ["observed", "surge", "updated", "available"]
        return web.json_response(dep)

    async def get(self, request: web.Request) -> web.Response:
        self._record(request)
        name = request.match_info["name"]
        dep = self.deployments.get(name)
        if dep is None:
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        steps = self.steps.get(name, [])
        if steps and self.stuck_at.get(name) != steps[0]:
            self._advance(dep, steps.pop(0))
        return web.json_response(dep)

    def _advance(self, dep: dict[str, Any], step: str) -> None:
        status, want = dep["status"], dep["spec"]["replicas"]
        if step == "observed":
            status["observedGeneration"] = dep["metadata"]["generation"]
            status.update(updatedReplicas=0, replicas=want)
            if dep["metadata"]["name"] in self.deadline_exceeded:
                status["conditions"] = [
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                     "message": 'ReplicaSet "tgi-abc" has timed out progressing.'}
                ]  # fmt: skip
        elif step == "surge":
            status.update(updatedReplicas=1, replicas=want + 1, availableReplicas=want - 1)
        elif step == "updated":
            status.update(updatedReplicas=want, replicas=want, availableReplicas=want - 1)
        elif step == "available":
            status.update(availableReplicas=want)


def with_api(scenario: Callable[[FakeApiServer, Any], Awaitable[None]], server: FakeApiServer | None = None) -> None:
    """Run `scenario(server, configuration)` on one event loop with the fake API server up."""
    server = server or FakeApiServer("crucible-tgi-stable", "crucible-tgi-canary")

    async def main() -> None:
        from kubernetes_asyncio import client

        runner = web.AppRunner(server.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
        configuration.api_key = {"BearerToken": TOKEN}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        try:
            await scenario(server, configuration)
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_restart_patches_like_kubectl_and_waits_for_every_rollout() -> None:
    with_api(_restart_and_check)


async def _restart_and_check(server: FakeApiServer, configuration: Any) -> None:
    names = ["crucible-tgi-stable", "crucible-tgi-canary"]
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    await restart_deployments(
        names,
        "crucible",
        reason="rollout of m7",
        timeout=30,
        adapters=["m6", "m7"],
        configuration=configuration,
        poll_interval=0.01,
    )
    patches = [r for r in server.requests if r["method"] == "PATCH"]
    assert [p["path"] for p in patches] == [f"/apis/apps/v1/namespaces/crucible/deployments/{n}" for n in names]
    for p in patches:
        assert p["content_type"] == "application/strategic-merge-patch+json"
        assert p["authorization"] == f"Bearer {TOKEN}"
        annotations = p["body"]["spec"]["template"]["metadata"]["annotations"]
        assert set(p["body"]) == {"spec"} and set(p["body"]["spec"]) == {"template"}
        assert annotations["crucible.dev/adapters"] == "m6,m7"
        assert annotations["crucible.dev/restart-reason"] == "rollout of m7"
        restarted = dt.datetime.strptime(annotations["kubectl.kubernetes.io/restartedAt"], "%Y-%m-%dT%H:%M:%SZ")
        assert restarted.replace(tzinfo=dt.UTC) >= before
    for name in names:
        assert rollout_progress(server.deployments[name])[0]
        assert server.steps[name] == []  # waited through every controller step
        gets = [r for r in server.requests if r["method"] == "GET" and r["path"].endswith(name)]
        assert len(gets) == 4  # one read per controller step, the last one sees it done


def test_a_rollout_that_does_not_finish_times_out_naming_it() -> None:
    server = FakeApiServer("crucible-tgi-stable", "crucible-tgi-canary")
    server.stuck_at["crucible-tgi-canary"] = "available"
    with_api(_times_out, server)


async def _times_out(server: FakeApiServer, configuration: Any) -> None:
    with pytest.raises(RestartError) as err:
        await restart_deployments(
            ["crucible-tgi-stable", "crucible-tgi-canary"],
            "crucible",
            reason="r",
            timeout=0.5,
            configuration=configuration,
            poll_interval=0.01,
        )
    assert str(err.value) == (
        "deployment crucible/crucible-tgi-canary: rollout not complete after 0s, "
        "waiting for 1 of 2 updated replicas available"
    )


def test_progress_deadline_and_missing_deployment_are_clear_errors() -> None:
    server = FakeApiServer("crucible-tgi-stable", "crucible-tgi-canary")
    server.deadline_exceeded.add("crucible-tgi-stable")
    with_api(_deadline_and_missing, server)


async def _deadline_and_missing(server: FakeApiServer, configuration: Any) -> None:
    with pytest.raises(RestartError, match="crucible-tgi-stable: rollout exceeded its progress deadline"):
        await restart_deployments(["crucible-tgi-stable"], "crucible", reason="r", timeout=10,
                                  configuration=configuration, poll_interval=0.01)  # fmt: skip
    with pytest.raises(RestartError, match=r"cannot restart deployment crucible/nope: HTTP 404.*RESTART_DEPLOYMENTS"):
        await restart_deployments(["nope"], "crucible", reason="r", timeout=10, configuration=configuration)


def test_rollout_progress_is_kubectls_rollout_status() -> None:
    dep = deployment("d", replicas=3)
    assert rollout_progress(dep) == (True, "3 of 3 replicas updated and available")
    stale = copy.deepcopy(dep)
    stale["metadata"]["generation"] = 2
    assert rollout_progress(stale) == (False, "the controller to observe generation 2 (observed 1)")
    dep["status"].update(updatedReplicas=1, replicas=4)
    assert rollout_progress(dep) == (False, "1 of 3 replicas updated")
    dep["status"].update(updatedReplicas=3, replicas=4)
    assert rollout_progress(dep) == (False, "1 old replicas to terminate")
    dep["status"].update(replicas=3, availableReplicas=2)
    assert rollout_progress(dep) == (False, "2 of 3 updated replicas available")
    assert restart_patch(dt.datetime(2026, 12, 4, 21, 0, tzinfo=dt.UTC), adapters=["a"]) == {
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-04T21:00:00Z",
                                    "crucible.dev/adapters": "a"}
                }
            }
        }
    }  # fmt: skip


def test_in_cluster_configuration_reads_the_service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    configuration = in_cluster_configuration(tmp_path)
    assert configuration.host == "https://10.96.0.1:443"
    assert configuration.ssl_ca_cert == str(tmp_path / "ca.crt")
    assert asyncio.run(configuration.get_api_key_with_prefix("BearerToken")) == f"Bearer {TOKEN}"
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    with pytest.raises(RestartError, match="not running in a Kubernetes pod"):
        in_cluster_configuration(tmp_path)


def test_no_names_is_a_no_op() -> None:
    asyncio.run(restart_deployments([], "crucible", reason="r", timeout=1))


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A CA-less self-signed certificate for 127.0.0.1 (the pod's ca.crt is then that certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "ca.crt", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_in_cluster_over_tls_with_the_service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path a pod takes: token and CA from the service-account folder, the API server from
    KUBERNETES_SERVICE_HOST/PORT, TLS verified against that CA."""
    cert, key = _self_signed(tmp_path)
    (tmp_path / "token").write_text(TOKEN)
    server = FakeApiServer("crucible-tgi")

    async def main() -> None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        runner = web.AppRunner(server.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(port))
        try:
            await restart_deployments(
                ["crucible-tgi"],
                "crucible",
                reason="r",
                timeout=30,
                configuration=in_cluster_configuration(tmp_path),
                poll_interval=0.01,
            )
        finally:
            await runner.cleanup()

    asyncio.run(main())
    assert server.requests[0]["method"] == "PATCH"
    assert {r["authorization"] for r in server.requests} == {f"Bearer {TOKEN}"}
    assert rollout_progress(server.deployments["crucible-tgi"])[0]
