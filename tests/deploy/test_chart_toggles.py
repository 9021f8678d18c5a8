"""The chart on any cluster: optional objects follow their toggle and the cluster's APIs, KEDA owns the replicas it
scales, images per service, names and labels, gRPC exposure, NOTES.txt that tells the truth."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from .conftest import CHART, NAMESPACE, RELEASE, WITH_OPERATORS, by_kind, helm_template, objects, run, tool

KEDA_SCALED = {"scrubber", "scorer", "dedup", "dataset"}  # their durables are on RAW / RECORDS
DIGEST = "sha256:" + "ab" * 32
COMBINATIONS = list(itertools.product([False, True], repeat=3))  # (operators present, KEDA on, Gateway API on)


def _render(operators: bool, keda: bool, gateway_api: bool) -> list[dict[str, Any]]:
    args = list(WITH_OPERATORS) if operators else []
    args += ["--set", f"keda.enabled={str(keda).lower()}", "--set", f"gatewayApi.enabled={str(gateway_api).lower()}"]
    if gateway_api:
        args += ["--set", "gatewayApi.parentRefs[0].name=public", "--set", "gatewayApi.hostnames={llm.example.com}"]
        args += ["--set", "gatewayApi.grpcHostnames={grpc.llm.example.com}"]
    return objects(helm_template(*args))


@pytest.fixture(scope="module")
def combinations() -> dict[tuple[bool, bool, bool], list[dict[str, Any]]]:
    return {combo: _render(*combo) for combo in COMBINATIONS}


@pytest.mark.parametrize(
    "combo", COMBINATIONS, ids=lambda c: f"operators={'yes' if c[0] else 'no'}-keda={c[1]}-gatewayapi={c[2]}"
)
def test_each_toggle_combination(
    combo: tuple[bool, bool, bool], combinations: dict[tuple[bool, bool, bool], list[dict[str, Any]]]
) -> None:
    operators, keda, gateway_api = combo
    objs = combinations[combo]
    kinds = {o["kind"] for o in objs}
    # Monitoring is on by default: it renders exactly where the cluster serves the operator's API.
    assert ("ServiceMonitor" in kinds) == operators and ("PrometheusRule" in kinds) == operators
    scaled = by_kind(objs, "ScaledObject")
    keda_active = operators and keda
    assert set(scaled) == ({f"{RELEASE}-{n}" for n in KEDA_SCALED} if keda_active else set())
    for name, deploy in by_kind(objs, "Deployment").items():
        service = name.removeprefix(f"{RELEASE}-")
        if service == "gateway":
            assert "replicas" not in deploy["spec"], "the HPA owns the gateway's replicas"
        elif service in KEDA_SCALED and keda_active:
            assert "replicas" not in deploy["spec"], f"{name}: an upgrade would reset KEDA's scale"
        else:
            assert deploy["spec"]["replicas"] >= 1, f"{name}: nothing else scales it"
    routes = by_kind(objs, "HTTPRoute")
    grpc_routes = by_kind(objs, "GRPCRoute")
    assert bool(routes) == (operators and gateway_api) == bool(grpc_routes)
    if grpc_routes:
        [route] = grpc_routes.values()
        [rule] = route["spec"]["rules"]
        assert rule["backendRefs"] == [{"name": f"{RELEASE}-gateway", "port": 50051}]
        assert route["spec"]["hostnames"] == ["grpc.llm.example.com"]


def test_every_combination_validates(
    combinations: dict[tuple[bool, bool, bool], list[dict[str, Any]]], tmp_path: Path
) -> None:
    import json

    import yaml

    # Most objects are the same in every combination: validate each distinct one once.
    distinct = {json.dumps(o, sort_keys=True): o for objs in combinations.values() for o in objs}
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all(list(distinct.values())))
    proc = run([tool("kubernetes-validate"), "--strict", "--quiet", "-k", "1.37.0", path])
    problems = [
        line
        for line in (proc.stdout + proc.stderr).splitlines()
        if line.strip() and "Couldn't find schema for kind" not in line
    ]
    assert proc.returncode == 0 and not problems, "\n".join(problems)


def test_explicit_toggles_win_over_the_apis() -> None:
    off = ["--set", "monitoring.serviceMonitor.enabled=false", "--set", "monitoring.prometheusRule.enabled=false"]
    kinds = {o["kind"] for o in objects(helm_template(*WITH_OPERATORS, *off))}
    assert not kinds & {"ServiceMonitor", "PrometheusRule"}


def test_images_per_service_with_a_global_default() -> None:
    objs = objects(
        helm_template(
            "--set",
            "global.imageTag=1.2.3",
            "--set",
            f"services.scorer.image.digest={DIGEST}",
            "--set",
            "services.gateway.image.repository=mirror.example.com/gw",
            "--set",
            "services.gateway.image.tag=canary-7",
            "--set",
            f"services.dataset.image.digest={DIGEST}",
            "--set",
            f"tgi.image.digest={DIGEST}",
        )
    )
    deployments = by_kind(objs, "Deployment")

    def image(name: str) -> str:
        return deployments[f"{RELEASE}-{name}"]["spec"]["template"]["spec"]["containers"][0]["image"]

    assert image("scrubber") == "ghcr.io/crucible/crucible-scrubber:1.2.3"  # the global default
    assert image("scorer") == f"ghcr.io/crucible/crucible-scorer@{DIGEST}"  # pinned: the digest wins
    assert image("gateway") == "mirror.example.com/gw:canary-7"
    assert image("tgi") == f"ghcr.io/huggingface/text-generation-inference@{DIGEST}"
    # Whatever runs a service's image follows that service's setting.
    [prepare] = deployments[f"{RELEASE}-tgi"]["spec"]["template"]["spec"]["initContainers"]
    assert prepare["image"] == "mirror.example.com/gw:canary-7"
    [test_pod] = by_kind(objs, "Pod").values()
    assert test_pod["spec"]["containers"][0]["image"] == "mirror.example.com/gw:canary-7"
    [migrate] = by_kind(objs, "Job")[f"{RELEASE}-migrations"]["spec"]["template"]["spec"]["containers"]
    assert migrate["image"] == f"ghcr.io/crucible/crucible-dataset@{DIGEST}"


@pytest.mark.parametrize(
    "bad",
    [
        "services.scorer.image.digest=latest",
        "services.scorer.image.tagg=1",
        "commonLabels.app\\.kubernetes\\.io/name=x",
        "fullnameOverride=Not_A_Name",
    ],
)
def test_schema_rejects_bad_image_and_name_values(bad: str) -> None:
    proc = run([tool("helm"), "template", RELEASE, CHART, "--set", bad])
    assert proc.returncode != 0 and "schema" in proc.stderr, f"{bad} was accepted"


def test_name_overrides_and_common_labels() -> None:
    labels = ["--set", "nameOverride=llm", "--set", "commonLabels.team=ml-platform"]
    proc = run([tool("helm"), "template", "prod", CHART, "-n", NAMESPACE, *labels])
    assert proc.returncode == 0, proc.stderr
    objs = objects(proc.stdout)
    assert "prod-llm-scrubber" in by_kind(objs, "Deployment")
    for obj in objs:
        assert obj["metadata"]["labels"]["team"] == "ml-platform", obj["metadata"]["name"]
        pod = obj.get("spec", {}).get("template", {}).get("metadata")
        if pod:
            assert pod["labels"]["team"] == "ml-platform"
    objs = objects(helm_template("--set", "fullnameOverride=acme"))
    deployments = by_kind(objs, "Deployment")
    assert {"acme-scrubber", "acme-gateway", "acme-tgi"} <= set(deployments)
    gateway_env = {
        e["name"]: e.get("value")
        for e in deployments["acme-gateway"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert gateway_env["CRUCIBLE_GATEWAY_STABLE_URL"] == "http://acme-tgi:8080"
    assert "acme-policy" in by_kind(objs, "ConfigMap")


def test_grpc_exposure_through_an_ingress() -> None:
    objs = objects(
        helm_template(
            "--set",
            "ingress.enabled=true",
            "--set",
            "ingress.className=nginx",
            "--set",
            "ingress.http.host=llm.example.com",
            "--set",
            "ingress.grpc.host=grpc.llm.example.com",
            "--set",
            "ingress.grpc.tlsSecretName=grpc-tls",
        )
    )
    ingresses = by_kind(objs, "Ingress")
    grpc = ingresses[f"{RELEASE}-gateway-grpc"]
    assert grpc["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPC"
    [rule] = grpc["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert rule["host"] == "grpc.llm.example.com" and backend == {
        "name": f"{RELEASE}-gateway",
        "port": {"name": "grpc"},
    }
    assert grpc["spec"]["tls"] == [{"hosts": ["grpc.llm.example.com"], "secretName": "grpc-tls"}]
    http = ingresses[f"{RELEASE}-gateway"]
    assert http["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "http"}
    assert "nginx.ingress.kubernetes.io/backend-protocol" not in http["metadata"].get("annotations", {})
    # A gateway serving TLS itself is reached with GRPCS.
    tls = objects(
        helm_template(
            "--set",
            "ingress.enabled=true",
            "--set",
            "ingress.grpc.host=g.example.com",
            "--set",
            "services.gateway.tlsSecretName=gw-tls",
        )
    )
    annotations = by_kind(tls, "Ingress")[f"{RELEASE}-gateway-grpc"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPCS"


def _notes(*args: str) -> str:
    proc = run([tool("helm"), "install", RELEASE, CHART, "-n", NAMESPACE, "--dry-run=client", *args])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("NOTES:", 1)[1]


def test_notes_say_what_was_skipped_and_how_secrets_are_checked() -> None:
    notes = _notes("--set", "keda.enabled=true")
    # `--dry-run=client` sees no cluster APIs: what is switched on but not served is named as skipped.
    assert "ServiceMonitors: SKIPPED" in notes and "monitoring.coreos.com/v1" in notes
    assert "KEDA ScaledObjects: SKIPPED" in notes and "Gateway API HTTPRoute: off" in notes
    assert f"logs job/{RELEASE}-migrations" in notes and "CreateContainerConfigError" not in notes
    assert f"helm test {RELEASE}" in notes
    unchecked = _notes("--set", "migrations.enabled=false")
    assert "CreateContainerConfigError" in unchecked
