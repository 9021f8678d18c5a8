"""The serving fleet in the chart, for both backends: TGI with `crucible serving prepare` in an initContainer and
a restart path scoped by RBAC, vLLM with runtime LoRA loading and a `crucible serving sync` sidecar; the gateway
pointed at the pool's fleet; production's policy closes the loop without a person."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import CHART, NAMESPACE, PRODUCTION_VALUES, RELEASE, by_kind, helm_template, objects, run, tool

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def _render(*args: str) -> list[dict[str, Any]]:
    return objects(helm_template(*args))


def _pod(objs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return by_kind(objs, "Deployment")[f"{RELEASE}-{name}"]["spec"]["template"]["spec"]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _gateway_env(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return _env(_pod(objs, "gateway")["containers"][0])


def _flags(args: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in args if a.startswith("--") and "=" in a)


def _mount(container: dict[str, Any], volume: str) -> str:
    [path] = [m["mountPath"] for m in container["volumeMounts"] if m["name"] == volume]
    return path


@pytest.fixture(scope="module")
def tgi() -> list[dict[str, Any]]:
    return _render("-f", str(PRODUCTION_VALUES))


@pytest.fixture(scope="module")
def vllm() -> list[dict[str, Any]]:
    return _render("--set", "serving.backend=vllm", "--set", "serving.pool=support")


def test_tgi_pulls_adapters_before_the_launcher(tgi: list[dict[str, Any]]) -> None:
    production = yaml.safe_load(PRODUCTION_VALUES.read_text())
    prod = production["serving"]
    pod = _pod(tgi, "tgi")
    [prepare] = pod["initContainers"]
    [server] = pod["containers"]
    assert prepare["image"].endswith(
        f"/crucible-gateway:{yaml.safe_load(PRODUCTION_VALUES.read_text())['global']['imageTag']}"
    )
    assert prepare["args"][:2] == ["serving", "prepare"]
    flags = _flags(prepare["args"])
    adapter_dir = VALUES["serving"]["adapterDir"]
    assert flags == {
        "dir": adapter_dir,
        "pool": prod["pool"],
        "base": prod["baseModel"],
        "max-rank": str(prod["maxLoraRank"]),
        "env-file": f"{adapter_dir}/lora.env",
    }
    assert _mount(prepare, "adapters") == _mount(server, "adapters") == adapter_dir
    assert _env(server)["MODEL_ID"] == prod["baseModel"]
    assert "LORA_ADAPTERS" not in _env(server), "adapters come from the registry, not from values"
    # The launcher starts only after sourcing what prepare wrote (TGI reads LORA_ADAPTERS at start).
    assert server["command"] == ["/bin/sh", "-c"]
    script = shlex.split(server["args"][0])
    assert script[:6] == ["set", "-a", "&&", ".", f"{adapter_dir}/lora.env", "&&"]
    assert script[-2:] == ["exec", "/tgi-entrypoint.sh"]
    # The fetcher reads the registry and the store, like a service: database URL from the Secret.
    assert "secretKeyRef" in _env(prepare)["CRUCIBLE_DATABASE_URL"]
    assert _env(prepare)["CRUCIBLE_ARTIFACTS_URL"].startswith("s3://")


def test_tgi_gateway_env_and_restart_rbac(tgi: list[dict[str, Any]]) -> None:
    env = _gateway_env(tgi)
    assert env["CRUCIBLE_GATEWAY_BACKEND_KIND"] == "tgi"
    assert env["CRUCIBLE_GATEWAY_STABLE_URL"] == f"http://{RELEASE}-tgi:{VALUES['tgi']['port']}"
    assert "CRUCIBLE_GATEWAY_CANDIDATE_URL" not in env, "candidates are adapters on the same fleet"
    assert env["CRUCIBLE_GATEWAY_ADAPTER_DIR"] == VALUES["serving"]["adapterDir"]
    assert env["CRUCIBLE_GATEWAY_RESTART_DEPLOYMENTS"] == f"{RELEASE}-tgi"
    assert env["CRUCIBLE_GATEWAY_NAMESPACE"] == NAMESPACE
    assert _pod(tgi, "gateway")["automountServiceAccountToken"] is True
    assert f"{RELEASE}-tgi" in by_kind(tgi, "Service")
    [role] = by_kind(tgi, "Role").values()
    [rule] = role["rules"]
    assert rule == {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "resourceNames": [f"{RELEASE}-tgi"],
        "verbs": ["get", "list", "watch", "patch"],
    }
    [binding] = by_kind(tgi, "RoleBinding").values()
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"{RELEASE}-gateway", "namespace": NAMESPACE}]
    # Only the gateway gets an API token; the fleet's pods none.
    for name, deploy in by_kind(tgi, "Deployment").items():
        if name != f"{RELEASE}-gateway":
            assert deploy["spec"]["template"]["spec"]["automountServiceAccountToken"] is False, name


def test_vllm_loads_adapters_at_runtime_from_a_synced_folder(vllm: list[dict[str, Any]]) -> None:
    pod = _pod(vllm, "vllm")
    [sidecar] = pod["initContainers"]
    [server] = pod["containers"]
    adapter_dir = VALUES["serving"]["adapterDir"]
    assert server["command"] == ["vllm", "serve"]
    assert server["args"][0] == VALUES["serving"]["baseModel"]
    assert "--enable-lora" in server["args"]
    flags = _flags(server["args"])
    assert flags["max-loras"] == str(VALUES["serving"]["maxLoras"])
    assert flags["max-lora-rank"] == str(VALUES["serving"]["maxLoraRank"])
    assert flags["port"] == str(VALUES["vllm"]["port"])
    assert _env(server)["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    # The sidecar runs for the pod's life (native sidecar) and vLLM starts after its first pass.
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["args"][:2] == ["serving", "sync"]
    sync = _flags(sidecar["args"])
    assert sync["dir"] == adapter_dir and sync["pool"] == "support"
    assert sync["probe-port"] == str(VALUES["serving"]["syncProbePort"])
    assert sidecar["startupProbe"]["httpGet"]["path"] == "/readyz"
    [volume] = [v for v in pod["volumes"] if v["name"] == "adapters"]
    assert "emptyDir" in volume
    assert _mount(sidecar, "adapters") == _mount(server, "adapters") == adapter_dir
    env = _gateway_env(vllm)
    assert env["CRUCIBLE_GATEWAY_BACKEND_KIND"] == "vllm"
    assert env["CRUCIBLE_GATEWAY_STABLE_URL"] == f"http://{RELEASE}-vllm:{VALUES['vllm']['port']}"
    assert env["CRUCIBLE_GATEWAY_ADAPTER_DIR"] == adapter_dir  # the path vLLM sees: the gateway passes it on load
    assert env["CRUCIBLE_GATEWAY_POOL"] == "support"
    assert "CRUCIBLE_GATEWAY_RESTART_DEPLOYMENTS" not in env
    assert not by_kind(vllm, "Role") and not by_kind(vllm, "RoleBinding")
    assert _pod(vllm, "gateway")["automountServiceAccountToken"] is False
    assert f"{RELEASE}-tgi" not in by_kind(vllm, "Deployment")


def test_fleet_network_flows(tgi: list[dict[str, Any]], vllm: list[dict[str, Any]]) -> None:
    for objs, fleet, port in ((tgi, "tgi", VALUES["tgi"]["port"]), (vllm, "vllm", VALUES["vllm"]["port"])):
        policies = by_kind(objs, "NetworkPolicy")
        egress = policies[f"{RELEASE}-{fleet}"]["spec"]["egress"]
        ports = {p["port"] for rule in egress for p in rule["ports"]}
        assert 5432 in ports and 443 in ports, f"{fleet}'s fetcher must reach the registry and the store"
        assert 4222 not in ports
        gateway_ports = {p["port"] for r in policies[f"{RELEASE}-gateway"]["spec"]["egress"] for p in r["ports"]}
        assert port in gateway_ports
        assert (6443 in gateway_ports) == (fleet == "tgi"), "only the TGI path calls the Kubernetes API"


def test_a_second_fleet_for_a_new_base_model() -> None:
    new_base = "meta-llama/Llama-3.3-70B"
    objs = _render("--set", "serving.candidate.enabled=true", "--set", f"serving.candidate.model={new_base}")
    env = _gateway_env(objs)
    assert env["CRUCIBLE_GATEWAY_CANDIDATE_URL"] == f"http://{RELEASE}-tgi-candidate:{VALUES['tgi']['port']}"
    assert env["CRUCIBLE_GATEWAY_RESTART_DEPLOYMENTS"] == f"{RELEASE}-tgi,{RELEASE}-tgi-candidate"
    [role] = by_kind(objs, "Role").values()
    assert role["rules"][0]["resourceNames"] == [f"{RELEASE}-tgi", f"{RELEASE}-tgi-candidate"]
    [prepare] = _pod(objs, "tgi-candidate")["initContainers"]
    assert _flags(prepare["args"])["base"] == new_base
    assert "--serving-optional" in prepare["args"]  # the pool's serving adapter is on the other base
    [main_prepare] = _pod(objs, "tgi")["initContainers"]
    assert "--serving-optional" not in main_prepare["args"]


def test_vllm_render_validates_strict(vllm: list[dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "vllm.yaml"
    path.write_text(yaml.safe_dump_all(vllm))
    proc = run([tool("kubernetes-validate"), "--strict", "--quiet", "-k", "1.30.0", path])
    problems = [
        line
        for line in (proc.stdout + proc.stderr).splitlines()
        if line.strip() and "Couldn't find schema for kind" not in line
    ]
    assert proc.returncode == 0 and not problems, "\n".join(problems)


@pytest.mark.parametrize("bad", ["serving.backend=triton", "serving.adapterDir=relative", "serving.maxLoraRank=0"])
def test_schema_rejects_bad_serving_values(bad: str) -> None:
    proc = run([tool("helm"), "template", RELEASE, CHART, "--set", bad])
    assert proc.returncode != 0 and "schema" in proc.stderr, f"{bad} was accepted"


def test_production_policy_runs_the_loop_without_a_person(tgi: list[dict[str, Any]], tmp_path: Path) -> None:
    from crucible.common.config import load_policy
    from crucible.common.plugins import installed_policy_models

    [config] = [o for o in tgi if o["kind"] == "ConfigMap" and o["metadata"]["name"] == f"{RELEASE}-policy"]
    path = tmp_path / "crucible.yaml"
    path.write_text(config["data"]["crucible.yaml"])
    policy = load_policy(path, installed_policy_models())  # every key is one the services know
    trainer, evaluator = policy.section("trainer"), policy.section("evaluator")
    assert trainer.auto_train_on_dataset_ready is True
    assert trainer.init_from == "serving"
    gates = evaluator.gates
    assert {gates.perplexity.mode, gates.bleu.mode, gates.rouge_l.mode, gates.bertscore.mode} == {"enforce"}
    assert gates.safety.mode == gates.pairwise.mode == "enforce"
