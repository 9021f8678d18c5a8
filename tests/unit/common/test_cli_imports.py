"""`crucible` starts without loading the heavy libraries: they load inside the command that
uses them, so `crucible --help`, `crucible version` and every command's `--help` stay fast.
Checked with `python -X importtime` (what loaded, not how long: wall time is never asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# What the issue names, and what a spec or a CLI module must not load either.
NEVER_BEFORE_A_COMMAND = ("torch", "transformers", "onnxruntime", "numba")
NOT_IN_A_SPEC = (*NEVER_BEFORE_A_COMMAND, "numpy", "sqlalchemy", "nats", "grpc", "google.protobuf", "fsspec",
                 "httpx", "aiohttp", "fastapi", "presidio_analyzer", "prometheus_client", "pydantic_settings",
                 "sentence_transformers", "datasets", "peft", "deepspeed")  # fmt: skip


def imported_modules(*args: str) -> set[str]:
    """Every module `python -X importtime -m crucible.common.cli ARGS` imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "crucible.common.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                modules.add(name)
    assert "crucible.common.cli" in modules or "typer" in modules, "no -X importtime output"
    return modules


def loaded(modules: set[str], roots: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == r or m.startswith(r + ".") for r in roots))


@pytest.mark.parametrize("args", [("--help",), ("version",)], ids=["help", "version"])
def test_help_and_version_load_no_heavy_library(args: tuple[str, ...]) -> None:
    modules = imported_modules(*args)
    assert not loaded(modules, NOT_IN_A_SPEC), loaded(modules, NOT_IN_A_SPEC)


def test_no_command_loads_heavy_libraries_before_it_runs_and_help_shows_all_its_text() -> None:
    # Every command's --help, in one process: parsing the command line and rendering help is all
    # that runs, so whatever is in sys.modules afterwards was loaded "before a command runs".
    script = r"""
import json, re, sys
from typer.main import get_command
from typer.testing import CliRunner
from crucible.common.cli import build_app

app = build_app()
root = get_command(app)
paths, failed = [], []

def walk(cmd, path):
    paths.append(path)
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        walk(sub, [*path, name])

walk(root, [])
runner = CliRunner()
swallowed = []
for path in paths:
    result = runner.invoke(app, [*path, "--help"])
    if result.exit_code != 0:
        failed.append([path, result.output[-500:]])
    # Help text is rich markup: a "[word ...]" in it vanishes unless escaped.
    cmd = root
    for name in path:
        cmd = cmd.commands[name]
    texts = [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params]
    shown = " ".join(result.output.split())
    for text in texts:
        for bracketed in re.findall(r"\[[^\]]+\]", text.split("\f")[0]):
            if " ".join(bracketed.split()) not in shown:
                swallowed.append([path, bracketed])
print(json.dumps({"commands": len(paths), "failed": failed, "swallowed": swallowed, "modules": sorted(sys.modules)}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "2000", "TERMINAL_WIDTH": "2000"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["commands"] > 40 and not report["failed"], report["failed"]
    modules = set(report["modules"])
    assert not loaded(modules, NEVER_BEFORE_A_COMMAND), loaded(modules, NEVER_BEFORE_A_COMMAND)
    assert not report["swallowed"], f"help text that rich markup hides: {report['swallowed']}"


def test_service_specs_import_nothing_heavy() -> None:
    script = (
        "import json, sys\n"
        "from crucible.common.services import discover_services\n"
        "specs = discover_services()\n"
        "print(json.dumps({'specs': sorted(specs), 'modules': sorted(sys.modules)}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert {"scrubber", "scorer", "dedup", "dataset", "trainer", "evaluator", "gateway"} <= set(report["specs"])
    modules = set(report["modules"])
    assert not loaded(modules, (*NOT_IN_A_SPEC, "pydantic")), loaded(modules, (*NOT_IN_A_SPEC, "pydantic"))


def test_every_policy_section_model_still_resolves() -> None:
    # The specs name their policy models as strings; each must import to a model.
    from pydantic import BaseModel

    from crucible.common.services import discover_services

    for spec in discover_services().values():
        model = spec.policy_class()
        assert model is None or issubclass(model, BaseModel), spec.name
