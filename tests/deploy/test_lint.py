"""yamllint on the values files and the rendered manifests; hadolint and house rules on every Dockerfile."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import CHART, ROOT, run, tool

HERE = Path(__file__).parent
DOCKER = ROOT / "docker"
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())
# Image name per service folder (the entry-point name of services/tgidev is tgi-dev).
IMAGE_FOR = {"tgidev": "tgi-dev"}
CUDA_IMAGES = {"trainer", "evaluator"}


def test_yamllint(default_render: str, production_render: str, tmp_path: Path) -> None:
    (tmp_path / "default.yaml").write_text(default_render)
    (tmp_path / "production.yaml").write_text(production_render)
    files = [
        tmp_path / "default.yaml",
        tmp_path / "production.yaml",
        CHART / "values.yaml",
        CHART / "values-production.yaml",
        CHART / "nats-values.yaml",
        CHART / "Chart.yaml",
        ROOT / "deploy" / "k8s" / "kustomization.yaml",
        HERE / "alerts_test.yaml",
    ]
    proc = run([tool("yamllint"), "--strict", "-c", HERE / "yamllint.yaml", *files])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_service_has_an_image() -> None:
    for service in SERVICES:
        name = IMAGE_FOR.get(service, service)
        assert (DOCKER / f"{name}.Dockerfile").exists(), f"no docker/{name}.Dockerfile"
        ignore = (DOCKER / f"{name}.Dockerfile.dockerignore").read_text()
        assert f"!services/{service}\n" in ignore and ignore.startswith("#") and "\n*\n" in ignore


@pytest.mark.parametrize("dockerfile", sorted(DOCKER.glob("*.Dockerfile")), ids=lambda p: p.stem)
def test_hadolint(dockerfile: Path) -> None:
    """Any finding fails; a rule may only be ignored inline with the reason on the line above."""
    proc = run([tool("hadolint"), "--failure-threshold", "style", "--no-color", dockerfile])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = dockerfile.read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore" in line:
            assert lines[i - 1].startswith("#") and "hadolint ignore" not in lines[i - 1], (
                f"{dockerfile.name}:{i + 1} unjustified"
            )


@pytest.mark.parametrize("dockerfile", sorted(DOCKER.glob("*.Dockerfile")), ids=lambda p: p.stem)
def test_dockerfile_house_rules(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    name = dockerfile.stem
    service = {v: k for k, v in IMAGE_FOR.items()}.get(name, name)
    bases = re.findall(r"^ARG (?:PYTHON|CUDA)_IMAGE=(\S+)$", text, flags=re.M)
    assert len(bases) == 1, "one pinned base image"
    assert len(re.findall(r"^FROM ", text, flags=re.M)) == 2, "multi-stage: a build stage and a runtime stage"
    if name in CUDA_IMAGES:
        assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-\S*runtime-\S+", bases[0]), bases[0]
        assert re.search(r'--index-url "\$\{TORCH_INDEX_URL\}" torch==2\.13\.0', text), "the CUDA build of torch"
    else:
        assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", bases[0]), bases[0]
    # Only this service's code: libs/common and services/<it>.
    copied = re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.M)
    assert sorted(copied) == sorted(["constraints.txt", "libs/common", f"services/{service}"])
    assert re.search(r"^USER 10001:10001$", text, flags=re.M), "non-root user matching the chart's runAsUser"
    assert re.search(r"^EXPOSE \d+", text, flags=re.M)
    assert re.search(r"^HEALTHCHECK ", text, flags=re.M)
    assert not re.search(r"(?i)^(ENV|ARG)\s+\S*(SECRET|TOKEN|PASSWORD)", text, flags=re.M), "no secrets in images"
    assert f'CMD ["serve", "{name}"]' in text
