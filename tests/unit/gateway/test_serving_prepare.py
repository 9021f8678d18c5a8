"""`crucible serving prepare` (TGI's entrypoint step) against a real SQLite registry, the file
artifact store and real peft adapters of the tiny base model; bad adapters are skipped, the
serving one failing stops the server from starting."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crucible.common import lifecycle
from crucible.common.registry import ModelVersion
from crucible.common.runtime import Runtime
from crucible.gateway.serving_cli import prepare

PATHS = {
    "evaluated": ("evaluated",),
    "canary": ("evaluated", "canary"),
    "serving": ("evaluated", "canary", "serving"),
    "rolled_back": ("evaluated", "canary", "rolled_back"),
    "rejected": ("rejected",),
}


def register(
    runtime: Runtime,
    name: str,
    adapter: Path | None,
    status: str,
    *,
    base: str = "tiny-base",
    pool: str = "default",
    uri: str | None = None,
) -> None:
    """A model row as the trainer writes it (adapter uploaded to the store), moved to `status`."""
    if uri is None:
        uri = runtime.artifacts.put_dir(adapter, f"models/{name}/adapter") if adapter else ""
    with runtime.registry.session() as s:
        mv = ModelVersion(name=name, base_model=base, status="trained", pool=pool, adapter_uri=uri)
        s.add(mv)
        lifecycle.record_created(s, mv, reason="trained", actor="test")
    for to in PATHS.get(status, ()):
        with runtime.registry.session() as s:
            lifecycle.transition(s, name, to, reason="test", actor="test")


def corrupt_copy(adapter: Path, dest: Path) -> Path:
    shutil.copytree(adapter, dest)
    weights = dest / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    return dest


def other_base_copy(adapter: Path, dest: Path) -> Path:
    shutil.copytree(adapter, dest)
    cfg = dest / "adapter_config.json"
    cfg.write_text(json.dumps(json.loads(cfg.read_text()) | {"base_model_name_or_path": "meta-llama/Llama-3.1-8B"}))
    return dest


def test_prepare_installs_serving_and_canary_and_skips_bad_ones(
    runtime: Runtime, tiny_adapter: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    register(runtime, "m1", tiny_adapter, "serving")
    register(runtime, "m2", tiny_adapter, "canary")
    register(runtime, "m3", corrupt_copy(tiny_adapter, tmp_path / "corrupt"), "canary")
    register(runtime, "m4", other_base_copy(tiny_adapter, tmp_path / "other"), "canary")
    register(runtime, "m5", None, "canary", uri=runtime.artifacts.uri("models/m5/adapter"))  # never uploaded
    register(runtime, "m6", tiny_adapter, "evaluated")  # not for TGI's start
    register(runtime, "m7", tiny_adapter, "canary", pool="other-pool")
    folder = tmp_path / "adapters"

    result = prepare(runtime, folder, "default")

    assert [name for name, _ in result.installed] == ["m1", "m2"]
    assert sorted(result.skipped) == ["m3", "m4", "m5"]
    assert "truncated or corrupt" in result.skipped["m3"]
    assert "trained on 'meta-llama/Llama-3.1-8B'" in result.skipped["m4"]
    assert "not in the artifact store" in result.skipped["m5"]
    assert not result.serving_failed
    assert sorted(p.name for p in folder.iterdir()) == ["m1", "m2"]  # no temp folders, nothing bad
    assert (folder / "m1" / "adapter_config.json").is_file()
    assert (folder / "m1" / "adapter_model.safetensors").read_bytes() == (
        tiny_adapter / "adapter_model.safetensors"
    ).read_bytes()
    assert any("skipping adapter m3 (canary)" in r.getMessage() for r in caplog.records)


def test_prepare_base_from_the_serving_model_refuses_another_base(
    runtime: Runtime, tiny_adapter: Path, tmp_path: Path
) -> None:
    register(runtime, "m1", tiny_adapter, "serving")
    register(runtime, "m2", tiny_adapter, "canary", base="some-other-base")
    result = prepare(runtime, tmp_path / "adapters", "default")
    assert [n for n, _ in result.installed] == ["m1"]
    assert "registry base 'some-other-base'" in result.skipped["m2"]


def test_serving_adapter_failing_is_an_error(runtime: Runtime, tiny_adapter: Path, tmp_path: Path) -> None:
    register(runtime, "m1", corrupt_copy(tiny_adapter, tmp_path / "corrupt"), "serving")
    register(runtime, "m2", tiny_adapter, "canary")
    result = prepare(runtime, tmp_path / "adapters", "default", base="tiny-base")
    assert "the serving model m1's adapter cannot be served" in result.serving_failed
    assert [n for n, _ in result.installed] == ["m2"]
    # A second fleet on a new base model serves its candidates without the pool's serving adapter.
    optional = prepare(runtime, tmp_path / "adapters2", "default", base="tiny-base", serving_optional=True)
    assert not optional.serving_failed and "m1" in optional.skipped
    assert [n for n, _ in optional.installed] == ["m2"]


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRUCIBLE_HOME": str(home), "CRUCIBLE_LOG_JSON": "false", "OMP_NUM_THREADS": "1"}
    env.pop("LORA_ADAPTERS", None)
    return subprocess.run(
        [sys.executable, "-m", "crucible.common.cli", "serving", "prepare", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_writes_the_env_file_and_execs_the_server_with_lora_adapters(
    runtime: Runtime, crucible_home: Path, tiny_adapter: Path, tmp_path: Path
) -> None:
    register(runtime, "m1", tiny_adapter, "serving")
    register(runtime, "m2", tiny_adapter, "canary")
    folder, env_file = tmp_path / "adapters", tmp_path / "env" / "lora.env"
    show = "import os; print('LORA=' + os.environ['LORA_ADAPTERS'])"
    proc = _cli(crucible_home, "--dir", str(folder), "--env-file", str(env_file), "--base", "tiny-base",
                "--", sys.executable, "-c", show)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    expected = f"m1={folder / 'm1'},m2={folder / 'm2'}"
    assert f"LORA={expected}" in proc.stdout
    assert f"LORA_ADAPTERS={expected}" in env_file.read_text().splitlines()
    # The file is what the chart's TGI container sources before exec'ing the launcher.
    sourced = subprocess.run(
        ["sh", "-c", f'set -a; . "{env_file}"; set +a; printf %s "$LORA_ADAPTERS"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert sourced.stdout == expected


def test_cli_refuses_to_start_the_server_without_the_serving_adapter(
    runtime: Runtime, crucible_home: Path, tiny_adapter: Path, tmp_path: Path
) -> None:
    register(runtime, "m1", other_base_copy(tiny_adapter, tmp_path / "other"), "serving")
    marker = tmp_path / "started"
    proc = _cli(crucible_home, "--dir", str(tmp_path / "adapters"), "--base", "tiny-base",
                "--", sys.executable, "-c", f"open({str(marker)!r}, 'w')")  # fmt: skip
    assert proc.returncode == 1
    assert "the serving model m1's adapter cannot be served" in proc.stderr
    assert not marker.exists()


def test_cli_with_no_adapters_starts_the_base_alone(runtime: Runtime, crucible_home: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "lora.env"
    show = "import os; print('LORA=' + repr(os.environ.get('LORA_ADAPTERS')))"
    proc = _cli(crucible_home, "--dir", str(tmp_path / "adapters"), "--env-file", str(env_file),
                "--", sys.executable, "-c", show)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "LORA=None" in proc.stdout  # TGI refuses an empty LORA_ADAPTERS: leave it unset
    assert "LORA_ADAPTERS" not in env_file.read_text()
