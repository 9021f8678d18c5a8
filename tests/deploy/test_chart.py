"""The Helm chart: it lints, renders, validates against Kubernetes' schemas, and says what matters."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import (
    CHART,
    NAMESPACE,
    PRODUCTION_VALUES,
    RELEASE,
    ROOT,
    by_kind,
    helm_template,
    run,
    tool,
)

SERVICES = ["extractor", "scrubber", "scorer", "dedup", "dataset", "trainer", "evaluator", "gateway"]
KUBERNETES_VERSIONS = ["1.37.0", "1.30.0"]  # the newest kubernetes-validate knows, and an older supported one


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "Pod":
        return spec
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = _pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def _workloads(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: o for kind in ("Deployment", "Job", "CronJob", "Pod") for name, o in by_kind(objs, kind).items()}


@pytest.mark.parametrize("values", [None, PRODUCTION_VALUES], ids=["default", "production"])
def test_helm_lint_strict(helm: Path, values: Path | None) -> None:
    args = ["-f", values] if values else []
    proc = run([helm, "lint", "--strict", CHART, *args])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_default_render_validates_strict(default_render: str, tmp_path: Path, version: str) -> None:
    _validate(default_render, tmp_path, version)


def test_production_render_validates_strict(production_render: str, tmp_path: Path) -> None:
    _validate(production_render, tmp_path, KUBERNETES_VERSIONS[0])


def _validate(rendered: str, tmp_path: Path, version: str) -> None:
    path = tmp_path / "rendered.yaml"
    path.write_text(rendered)
    proc = run([tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, path])
    # Custom resources (ServiceMonitor, PrometheusRule, ScaledObject, HTTPRoute) have no built-in schema:
    # kubernetes-validate warns about them; their content is checked by the tests below and by promtool.
    problems = [
        line
        for line in (proc.stdout + proc.stderr).splitlines()
        if line.strip() and "Couldn't find schema for kind" not in line
    ]
    assert proc.returncode == 0 and not problems, "\n".join(problems)


def test_every_toggle_renders_valid_objects(tmp_path: Path) -> None:
    """The switches a platform team flips: each combination renders and validates."""
    variants = [
        ["--set", "nats.auth.enabled=false"],
        ["--set", "serving.enabled=false", "--set", "networkPolicy.enabled=false"],
        [
            "--set",
            "serving.backend=vllm",
            "--set",
            "serving.candidate.enabled=true",
            "--set",
            "serving.candidate.model=m",
        ],
        ["--set", "serving.candidate.enabled=true", "--set", "serving.candidate.model=meta-llama/Llama-3.3-70B"],
        ["--set", "istio.enabled=true", "--set", "istio.hosts={llm.example.com}", "--set", "istio.gateways={gw}"],
        ["--set", "services.trainer.checkpoints.existingClaim=ckpt", "--set", "services.evaluator.gpu.count=1"],
        ["--set", "monitoring.serviceMonitor.enabled=false", "--set", "monitoring.prometheusRule.enabled=false"],
        ["--set", "services.gateway.autoscaling.enabled=false", "--set", "extraction.enabled=false"],
        ["--set", "migrations.enabled=false", "--set", "monitoring.grafanaDashboards.enabled=false"],
    ]
    _validate("---\n".join(helm_template(*v) for v in variants), tmp_path, KUBERNETES_VERSIONS[0])


def test_every_service_deployed_with_its_parts(default_objects: list[dict[str, Any]]) -> None:
    deployments = by_kind(default_objects, "Deployment")
    services = by_kind(default_objects, "Service")
    accounts = by_kind(default_objects, "ServiceAccount")
    pdbs = by_kind(default_objects, "PodDisruptionBudget")
    for name in [*SERVICES, "tgi"]:
        full = f"{RELEASE}-{name}"
        assert full in deployments, f"no Deployment for {name}"
        assert full in services and full in accounts, f"{name} misses its Service or ServiceAccount"
        assert deployments[full]["spec"]["template"]["spec"]["serviceAccountName"] == full
        selector = pdbs[full]["spec"]["selector"]["matchLabels"]
        labels = deployments[full]["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"{name}'s PDB does not select its pods"


def test_every_deployment_has_probes_limits_and_grace(rendered: list[dict[str, Any]]) -> None:
    for name, deploy in by_kind(rendered, "Deployment").items():
        spec = deploy["spec"]["template"]["spec"]
        assert spec["terminationGracePeriodSeconds"] >= 60, f"{name}: too little time to drain a batch"
        run_once = [c["name"] for c in spec.get("initContainers", []) if c.get("restartPolicy") != "Always"]
        for c in _containers(deploy):
            if c["name"] not in run_once:  # Kubernetes refuses probes on those
                assert "readinessProbe" in c and "livenessProbe" in c, f"{name}/{c['name']} has no probes"
            limits = c["resources"]["limits"]
            assert "cpu" in limits and "memory" in limits, f"{name}/{c['name']} has no cpu/memory limits"
            assert c["resources"].get("requests"), f"{name}/{c['name']} has no requests"


def test_no_container_runs_as_root(rendered: list[dict[str, Any]]) -> None:
    workloads = _workloads(rendered)
    assert {f"{RELEASE}-migrations", f"{RELEASE}-extract-cron"} <= set(workloads)
    for name, deploy in workloads.items():
        pod_ctx = _pod_spec(deploy).get("securityContext", {})
        for c in _containers(deploy):
            ctx = {**pod_ctx, **c.get("securityContext", {})}
            where = f"{name}/{c['name']}"
            assert ctx.get("runAsNonRoot") is True, f"{where} may run as root"
            assert ctx.get("runAsUser", 0) != 0, f"{where} runs as uid 0"
            assert ctx.get("allowPrivilegeEscalation") is False, f"{where} allows privilege escalation"
            assert ctx.get("readOnlyRootFilesystem") is True, f"{where} has a writable root filesystem"
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], f"{where} keeps capabilities"
            assert not ctx.get("privileged"), f"{where} is privileged"


def test_trainer_on_the_gpu_pool(rendered: list[dict[str, Any]], values: dict[str, Any]) -> None:
    trainer = by_kind(rendered, "Deployment")[f"{RELEASE}-trainer"]
    spec = trainer["spec"]["template"]["spec"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    [expr] = terms[0]["matchExpressions"]
    assert expr["key"] == "nvidia.com/gpu.product" and expr["operator"] == "In"
    products = set(expr["values"])
    assert products == set(values["services"]["trainer"]["gpu"]["products"])
    assert any("A100" in p for p in products) and any("H100" in p for p in products)
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    [container] = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] >= 1
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    shm = volumes[mounts["/dev/shm"]]
    assert shm["emptyDir"]["medium"] == "Memory"
    home = volumes[mounts["/var/lib/crucible"]]  # CRUCIBLE_HOME: the local checkpoint copy
    assert "persistentVolumeClaim" in home or "emptyDir" in home
    assert trainer["spec"]["strategy"]["type"] == "Recreate"
    # The CPU services never land on (or reserve) GPU nodes.
    for name in ("scrubber", "scorer", "dedup", "gateway"):
        other = by_kind(rendered, "Deployment")[f"{RELEASE}-{name}"]["spec"]["template"]["spec"]
        assert "nvidia.com/gpu" not in other["containers"][0]["resources"]["limits"]
        assert not other.get("tolerations")


def test_trainer_checkpoint_claim_exists_by_default(default_objects: list[dict[str, Any]]) -> None:
    claims = by_kind(default_objects, "PersistentVolumeClaim")
    trainer = by_kind(default_objects, "Deployment")[f"{RELEASE}-trainer"]["spec"]["template"]["spec"]
    claim = next(v for v in trainer["volumes"] if "persistentVolumeClaim" in v)["persistentVolumeClaim"]["claimName"]
    assert claim in claims


def test_scheduled_extraction_runs_as_the_extractor(default_objects: list[dict[str, Any]]) -> None:
    cron = by_kind(default_objects, "CronJob")[f"{RELEASE}-extract-cron"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    [c] = _containers(cron)
    assert c["image"].split("/")[-1].startswith("crucible-extractor:") and c["args"][0] == "extract"
    env = {e["name"]: e for e in c["env"]}
    assert env["NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "extractor"
    assert env["CRUCIBLE_NATS_URL"]["value"].startswith("nats://crucible-extractor:")
    assert {"CRUCIBLE_SOURCE_URL", "CRUCIBLE_DATABASE_URL", "CRUCIBLE_SUBJECT_SECRET"} <= set(env)
    assert f"{RELEASE}-extract-cron" in by_kind(default_objects, "NetworkPolicy")


def test_gateway_probes_follow_tls(
    default_objects: list[dict[str, Any]], production_objects: list[dict[str, Any]]
) -> None:
    """The kubelet's gRPC probe cannot speak TLS: a TLS gateway is probed on TCP."""
    for objs, kind in ((default_objects, "grpc"), (production_objects, "tcpSocket")):
        [gw] = by_kind(objs, "Deployment")[f"{RELEASE}-gateway"]["spec"]["template"]["spec"]["containers"]
        assert kind in gw["livenessProbe"] and kind in gw["startupProbe"]
        assert gw["readinessProbe"]["httpGet"]["path"] == "/health"


def test_secrets_are_referenced_never_embedded(rendered: list[dict[str, Any]], values: dict[str, Any]) -> None:
    assert not by_kind(rendered, "Secret"), "the chart must not create Secrets"
    sensitive = re.compile(r"SECRET|_TOKEN$|PASSWORD|DATABASE_URL|SOURCE_URL|REDIS_URL")
    for name, deploy in _workloads(rendered).items():
        for c in _containers(deploy):
            for env in c.get("env", []):
                if sensitive.search(env["name"]):
                    assert "valueFrom" in env and "secretKeyRef" in env["valueFrom"], f"{name}: {env['name']}"
                if env["name"] == "CRUCIBLE_NATS_URL":
                    # The password is expanded by the kubelet from the secretKeyRef'd NATS_PASSWORD.
                    assert "$(NATS_PASSWORD)" in env["value"] or "@" not in env["value"]


def test_gateway_has_hpa_and_workers_keda(production_objects: list[dict[str, Any]]) -> None:
    [hpa] = by_kind(production_objects, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-gateway"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert "replicas" not in by_kind(production_objects, "Deployment")[f"{RELEASE}-gateway"]["spec"]
    scaled = by_kind(production_objects, "ScaledObject")
    expected = {"scrubber": ("RAW", "crucible-scrubber"), "scorer": ("RECORDS", "crucible-scorer")}
    expected |= {"dedup": ("RECORDS", "crucible-dedup"), "dataset": ("RECORDS", "crucible-dataset")}
    assert set(scaled) == {f"{RELEASE}-{n}" for n in expected}
    for name, (stream, consumer) in expected.items():
        obj = scaled[f"{RELEASE}-{name}"]
        assert obj["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-{name}"
        [trigger] = obj["spec"]["triggers"]
        assert trigger["type"] == "nats-jetstream"
        assert (trigger["metadata"]["stream"], trigger["metadata"]["consumer"]) == (stream, consumer)


def test_network_policies_default_deny_and_flows(rendered: list[dict[str, Any]]) -> None:
    policies = by_kind(rendered, "NetworkPolicy")
    deny = policies[f"{RELEASE}-default-deny"]
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny["spec"]
    for name, deploy in by_kind(rendered, "Deployment").items():
        labels = deploy["spec"]["template"]["metadata"]["labels"]
        assert deny["spec"]["podSelector"]["matchLabels"].items() <= labels.items(), f"{name} escapes default deny"
        assert name in policies, f"{name} has no allow policy"

    def egress_ports(name: str) -> set[int]:
        return {p["port"] for rule in policies[f"{RELEASE}-{name}"]["spec"]["egress"] for p in rule["ports"]}

    assert 4222 in egress_ports("scrubber") and 4222 in egress_ports("extractor")
    assert 6379 in egress_ports("dedup") and 6379 not in egress_ports("scrubber")
    assert 4222 not in egress_ports("tgi"), "TGI has no business on the bus"
    # TGI takes requests from the gateway (and the evaluator) only.
    tgi_from = policies[f"{RELEASE}-tgi"]["spec"]["ingress"][0]["from"]
    sources = {p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in tgi_from}
    assert sources == {"gateway", "evaluator"}


def test_optional_integrations_off_by_default(
    default_objects: list[dict[str, Any]], operator_objects: list[dict[str, Any]]
) -> None:
    operator_only = {"ServiceMonitor", "PrometheusRule", "ScaledObject", "VirtualService", "HTTPRoute", "GRPCRoute"}
    # A bare cluster (and `make manifests`): nothing that needs an operator, so it installs anywhere.
    assert not {o["kind"] for o in default_objects} & operator_only
    # With the operators there, the defaults switch on monitoring only.
    kinds = {o["kind"] for o in operator_objects}
    assert not kinds & {"ScaledObject", "VirtualService", "HTTPRoute", "GRPCRoute", "Ingress"}
    assert {"ServiceMonitor", "PrometheusRule", "HorizontalPodAutoscaler", "NetworkPolicy"} <= kinds


@pytest.mark.parametrize("objs", ["operator_objects", "production_objects"])
def test_monitoring_objects_labelled_for_the_operator(objs: str, request: pytest.FixtureRequest) -> None:
    rendered = request.getfixturevalue(objs)
    for kind in ("ServiceMonitor", "PrometheusRule"):
        for obj in by_kind(rendered, kind).values():
            assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    monitors = by_kind(rendered, "ServiceMonitor")
    services = by_kind(rendered, "Service")
    main = monitors[RELEASE]
    for name in SERVICES:
        svc = services[f"{RELEASE}-{name}"]
        assert main["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
        assert "metrics" in {p["name"] for p in svc["spec"]["ports"]}
    # job = the release (the alerts and dashboards select on namespace and job).
    for monitor in monitors.values():
        label = monitor["spec"]["jobLabel"]
        selected = [
            s
            for s in services.values()
            if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
        ]
        assert selected, f"{monitor['metadata']['name']} selects no Service"
        assert all(s["metadata"]["labels"][label] == RELEASE for s in selected)
    serving = monitors[f"{RELEASE}-serving"]
    assert (
        services[f"{RELEASE}-tgi"]["metadata"]["labels"].items() >= serving["spec"]["selector"]["matchLabels"].items()
    )
    dashboards = [o for o in rendered if o["kind"] == "ConfigMap" and "-dashboard-" in o["metadata"]["name"]]
    assert len(dashboards) == 3
    for cm in dashboards:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"


@pytest.mark.parametrize(
    "bad",
    [
        "services.trainer.gpu.count=-1",
        "services.scrubber.replica=2",  # a typo
        "nats.url=nats://user:secret@nats:4222",  # credentials belong in the Secret
        "global.podSecurityContext.runAsNonRoot=false",
        "monitoring.prometheusRule.latencyThresholdSeconds=7",  # not a bucket bound
        "services.gateway.terminationGracePeriodSeconds=5",
    ],
)
def test_schema_rejects_bad_values(helm: Path, bad: str) -> None:
    proc = run([helm, "template", RELEASE, CHART, "--set", bad])
    assert proc.returncode != 0 and "schema" in proc.stderr, f"{bad} was accepted"


def test_committed_manifests_are_current(default_render: str) -> None:
    """deploy/k8s is `make manifests` output: stale files fail here."""
    committed = (ROOT / "deploy" / "k8s" / "crucible.yaml").read_text()
    assert committed == default_render, "deploy/k8s/crucible.yaml is stale: run `make manifests`"
    kustomization = yaml.safe_load((ROOT / "deploy" / "k8s" / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["crucible.yaml"] and kustomization["namespace"] == NAMESPACE


def test_values_documented_key_by_key() -> None:
    """Every top-level and second-level key of values.yaml has a comment above it (or its section's comment
    lists it): the reference a platform engineer reads."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    for i, line in enumerate(lines):
        m = re.match(r"^( {0,2})([A-Za-z][\w.-]*):", line)
        if not m:
            continue
        above = lines[i - 1].strip() if i else ""
        if not (above.startswith("#") or "#" in line or (m.group(1) and above.endswith(":"))):
            undocumented.append(line.strip())
    assert not undocumented, f"undocumented keys: {undocumented}"


def test_production_values_render_differently(default_render: str) -> None:
    assert helm_template("-f", PRODUCTION_VALUES) != default_render


def test_workers_probe_liveness_and_readiness_separately(rendered: list[dict[str, Any]]) -> None:
    """A worker that lost NATS must leave rotation (/readyz) without being restarted (/livez)."""
    workers = [
        c
        for deploy in by_kind(rendered, "Deployment").values()
        for c in _containers(deploy)
        if "metrics" in {p.get("name") for p in c.get("ports", [])}
        and "grpc" not in {p.get("name") for p in c["ports"]}
    ]
    assert workers, "no worker deployments rendered"
    for c in workers:
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", c["name"]
        assert c["livenessProbe"]["httpGet"]["path"] == "/livez", c["name"]
        assert c["startupProbe"]["httpGet"]["path"] == "/livez", c["name"]
