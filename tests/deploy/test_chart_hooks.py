"""The chart's hooks, run as the cluster would run them: the migrations Job's wait for its Secrets (its shell script,
with the Secret volumes as folders and a stand-in `crucible`), and the `helm test` pod's script against a small
HTTP server standing in for the gateway."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from .conftest import CHART, RELEASE, by_kind, helm_template, objects

SECRETS_ROOT = "/run/crucible-secrets"


def _migrations_script(*args: str) -> str:
    [job] = [j for name, j in by_kind(objects(helm_template(*args)), "Job").items() if name == f"{RELEASE}-migrations"]
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/bin/sh", "-c"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {f"{SECRETS_ROOT}/crucible", f"{SECRETS_ROOT}/crucible-nats"} <= mounts
    return container["args"][0]


def _run_migrations(script: str, secrets: Path, bin_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no POSIX shell")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("CRUCIBLE_DATABASE_URL", None)
    return subprocess.run(
        [sh, "-c", script.replace(SECRETS_ROOT, str(secrets))],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def fake_crucible(tmp_path: Path) -> Path:
    """A `crucible` that records how it was called (arguments and the database URL it got)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "called.json"
    script = bin_dir / "crucible"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps("
        "{'argv': sys.argv[1:], 'db': os.environ.get('CRUCIBLE_DATABASE_URL')}))\n"
    )
    script.chmod(0o755)
    return bin_dir


def _secret(root: Path, name: str, key: str, value: str = "x") -> None:
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / key).write_text(value)


def _all_keys(root: Path) -> None:
    """Every key values.yaml's workloads read, read from the values (not from the template under test)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    secrets = values["secrets"]
    for name, service in values["services"].items():
        for key_name in service.get("secretEnv", {}).values():
            _secret(root, secrets["name"], secrets[key_name], f"value-of-{secrets[key_name]}")
        _secret(root, values["nats"]["auth"]["secretName"], name)
    _secret(root, values["nats"]["auth"]["secretName"], "admin")  # read where the Job manages the streams


def test_migrations_list_every_missing_key_and_who_reads_it(tmp_path: Path, fake_crucible: Path) -> None:
    script = _migrations_script("--set", "migrations.secretWaitSeconds=0")
    secrets = tmp_path / "secrets"
    _all_keys(secrets)
    (secrets / "crucible" / "redis-url").unlink()
    (secrets / "crucible-nats" / "scrubber").unlink()
    proc = _run_migrations(script, secrets, fake_crucible)
    assert proc.returncode == 1
    lines = [line.strip() for line in proc.stderr.splitlines()]
    assert "Secret crucible, key redis-url (read by dedup)" in lines
    assert "Secret crucible-nats, key scrubber (read by scrubber)" in lines
    assert sum(line.startswith("Secret ") for line in lines) == 2, proc.stderr
    assert "docs/deploy.md" in proc.stderr
    assert not (tmp_path / "called.json").exists(), "migrated without its Secrets"


def test_migrations_without_any_secret_name_the_database_url_first(tmp_path: Path, fake_crucible: Path) -> None:
    script = _migrations_script(
        "--set", "migrations.secretWaitSeconds=0", "--set", "services.gateway.tlsSecretName=gw-tls"
    )
    proc = _run_migrations(script, tmp_path / "nothing", fake_crucible)
    assert proc.returncode == 1
    assert "Secret crucible, key database-url (read by migrations," in proc.stderr
    assert "Secret gw-tls, key tls.crt (read by gateway)" in proc.stderr


def test_migrations_run_once_the_secrets_are_there(tmp_path: Path, fake_crucible: Path) -> None:
    script = _migrations_script("--set", "migrations.secretWaitSeconds=0")
    secrets = tmp_path / "secrets"
    _all_keys(secrets)
    proc = _run_migrations(script, secrets, fake_crucible)
    assert proc.returncode == 0, proc.stderr
    called = json.loads((tmp_path / "called.json").read_text())
    assert called == {"argv": ["migrate"], "db": "value-of-database-url"}


def test_migrations_wait_for_a_secret_created_meanwhile(tmp_path: Path, fake_crucible: Path) -> None:
    script = _migrations_script("--set", "migrations.secretWaitSeconds=60", "--set", "migrations.secretPollSeconds=1")
    secrets = tmp_path / "secrets"
    _all_keys(secrets)
    (secrets / "crucible" / "database-url").unlink()
    late = threading.Timer(1.5, _secret, (secrets, "crucible", "database-url", "postgresql://late"))
    late.start()
    try:
        proc = _run_migrations(script, secrets, fake_crucible)
    finally:
        late.cancel()
    assert proc.returncode == 0, proc.stderr
    assert "waiting for Secrets" in proc.stdout and "key database-url" in proc.stdout
    assert json.loads((tmp_path / "called.json").read_text())["db"] == "postgresql://late"


class _Gateway(BaseHTTPRequestHandler):
    """Answers like the gateway's TGI routes; `generate_status` chooses a failure."""

    generate_status: ClassVar[int] = 200
    seen: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._reply(200 if self.path == "/health" else 404, {})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if self.generate_status != 200:
            self._reply(self.generate_status, {"error": "backend down", "error_type": "generation"})
        else:
            self._reply(200, {"generated_text": " Hello there"})


@pytest.fixture
def gateway() -> Iterator[str]:
    _Gateway.generate_status = 200
    _Gateway.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _test_pod(*args: str) -> tuple[str, dict[str, str]]:
    [pod] = by_kind(objects(helm_template(*args)), "Pod").values()
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    [container] = pod["spec"]["containers"]
    env = {e["name"]: e.get("value", "") for e in container["env"]}
    assert env["GATEWAY_URL"] == f"http://{RELEASE}-gateway:8080"
    assert container["command"] == ["python", "-c"]
    return container["args"][0], env


def _run_test_pod(script: str, env: dict[str, str], url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **env, "GATEWAY_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_helm_test_pod_checks_health_and_a_tiny_generation(gateway: str) -> None:
    script, env = _test_pod("--set", "helmTest.maxNewTokens=3")
    proc = _run_test_pod(script, {**env, "TEST_BEARER_TOKEN": "t0k"}, gateway)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: /health 200") and "Hello there" in proc.stdout
    [call] = _Gateway.seen
    assert call["path"] == "/generate" and call["body"]["parameters"] == {"max_new_tokens": 3}
    assert call["auth"] == "Bearer t0k"


def test_helm_test_pod_fails_with_the_reason(gateway: str) -> None:
    script, env = _test_pod()
    _Gateway.generate_status = 502
    proc = _run_test_pod(script, env, gateway)
    assert proc.returncode == 1
    assert proc.stderr.startswith("FAIL POST /generate: HTTP 502") and "backend down" in proc.stderr
    proc = _run_test_pod(script, env, "http://127.0.0.1:9")  # nothing listens: the first call names it
    assert proc.returncode == 1 and proc.stderr.startswith("FAIL GET http://127.0.0.1:9/health")


def test_helm_test_pod_may_reach_the_gateway_through_the_network_policies() -> None:
    objs = objects(helm_template("--set", "networkPolicy.gatewayClients[0].namespaceSelector.matchLabels.team=app"))
    policies = by_kind(objs, "NetworkPolicy")
    mine = policies[f"{RELEASE}-helm-test"]
    assert mine["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert any(8080 in {p["port"] for p in rule["ports"]} for rule in mine["spec"]["egress"])
    inbound = policies[f"{RELEASE}-helm-test-to-gateway"]
    assert inbound["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "gateway"
    [rule] = inbound["spec"]["ingress"]
    assert rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "helm-test"


def test_migrations_connect_to_nats_as_the_stream_admin(tmp_path: Path, fake_crucible: Path) -> None:
    """Where only the admin user may create the streams (natsPermissions.admin.manageStreams), the Job waits for
    that user's password too and hands `crucible migrate` a NATS URL with it."""
    script = _migrations_script(
        "--set", "migrations.secretWaitSeconds=0", "--set", "natsPermissions.admin.manageStreams=true"
    )
    (fake_crucible / "crucible").write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(tmp_path / 'called.json')!r}, 'w').write(json.dumps(os.environ.get('CRUCIBLE_NATS_URL')))\n"
    )
    secrets = tmp_path / "secrets"
    _all_keys(secrets)
    (secrets / "crucible-nats" / "admin").unlink()
    proc = _run_migrations(script, secrets, fake_crucible)
    assert proc.returncode == 1 and "Secret crucible-nats, key admin (read by migrations)" in proc.stderr
    _secret(secrets, "crucible-nats", "admin", "s3cret")
    proc = _run_migrations(script, secrets, fake_crucible)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "called.json").read_text()) == "nats://crucible-admin:s3cret@nats:4222"
