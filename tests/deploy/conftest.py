"""Fixtures for the deploy checks: the pinned tools and the chart rendered with helm.

The tools come from tools/install-deploy-tools.sh (helm and promtool in .tools/bin; hadolint, yamllint,
kubernetes-validate in the venv). Outside CI a missing tool skips; in CI (CI=true) it fails, so a skip never
hides a broken check there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "crucible"
PRODUCTION_VALUES = CHART / "values-production.yaml"
RELEASE = "crucible"
NAMESPACE = "crucible"
VENV_BIN = Path(sys.executable).parent
# What a cluster with the Prometheus Operator, KEDA and Gateway API (1.1+) serves: `helm install` finds these in
# .Capabilities.APIVersions, `helm template` is told with --api-versions. The optional objects render only then.
OPERATOR_APIS = [
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
    "keda.sh/v1alpha1/ScaledObject",
    "gateway.networking.k8s.io/v1/HTTPRoute",
    "gateway.networking.k8s.io/v1/GRPCRoute",
    "networking.istio.io/v1/VirtualService",
]
WITH_OPERATORS = [arg for api in OPERATOR_APIS for arg in ("--api-versions", api)]


def tool(name: str) -> Path:
    for folder in (ROOT / ".tools" / "bin", VENV_BIN):
        if (folder / name).exists():
            return folder / name
    found = shutil.which(name)
    if found:
        return Path(found)
    message = f"{name} not found: run tools/install-deploy-tools.sh"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run(cmd: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], check=False, capture_output=True, text=True, timeout=120, **kwargs)


def helm_template(*args: str | Path) -> str:
    """`helm template` of the chart as `make manifests` runs it; extra args are values files / --set."""
    proc = run([tool("helm"), "template", RELEASE, CHART, "--namespace", NAMESPACE, *args])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def objects(rendered: str) -> list[dict[str, Any]]:
    # libyaml's loader: the pure-Python one takes most of a render test's time.
    return [d for d in yaml.load_all(rendered, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if d]


@pytest.fixture(scope="session")
def helm() -> Path:
    return tool("helm")


@pytest.fixture(scope="session")
def default_render() -> str:
    """The defaults on a bare cluster (no operators): what `make manifests` commits (without the `helm test` pod,
    which kubectl would otherwise run as a plain pod)."""
    return helm_template("--skip-tests")


@pytest.fixture(scope="session")
def operator_render() -> str:
    """The defaults on a cluster that serves the operators' APIs."""
    return helm_template(*WITH_OPERATORS)


@pytest.fixture(scope="session")
def production_render() -> str:
    """values-production.yaml on a cluster with the operators it switches on."""
    return helm_template("-f", PRODUCTION_VALUES, *WITH_OPERATORS)


@pytest.fixture(scope="session")
def default_objects(default_render: str) -> list[dict[str, Any]]:
    return objects(default_render)


@pytest.fixture(scope="session")
def operator_objects(operator_render: str) -> list[dict[str, Any]]:
    return objects(operator_render)


@pytest.fixture(scope="session")
def production_objects(production_render: str) -> list[dict[str, Any]]:
    return objects(production_render)


@pytest.fixture(scope="session")
def values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@pytest.fixture(params=["default", "production"], scope="session")
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return request.getfixturevalue(f"{request.param}_objects")


def by_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


Find = Callable[[list[dict[str, Any]], str], dict[str, dict[str, Any]]]
