"""Backends the gateway starts itself on one machine: tgi-dev child processes serving the base
model (stable) and base + adapter (candidate), resolved from the model registry.

In production the backends are TGI deployments and the gateway only gets their URLs; this is
the embedded default's path (and the one `crucible run` takes).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from crucible.gateway.state import BackendSpec

log = logging.getLogger(__name__)

TINY_BASE_NAME = "tiny-base"  # the trainer records this name for $CRUCIBLE_HOME/models/tiny-base


class LaunchError(RuntimeError):
    pass


@dataclass(frozen=True)
class ModelSource:
    name: str
    base_path: Path
    adapter_path: Path | None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resolve_base_path(home: Path, base_model: str) -> Path:
    """A registry `base_model` value -> a local folder tgi-dev can load."""
    candidates = [Path(base_model).expanduser(), home / "models" / base_model]
    for path in candidates:
        if (path / "config.json").exists():
            return path
    raise LaunchError(
        f"base model {base_model!r} is not a local folder (looked in {', '.join(map(str, candidates))}); "
        "set CRUCIBLE_GATEWAY_STABLE_URL to a TGI endpoint serving it"
    )


def resolve_artifact_dir(runtime: Any, uri: str, scratch: Path) -> Path:
    """An artifact-store URI (or a plain path) -> a local folder."""
    store = runtime.artifacts
    root = store.root_url.rstrip("/") + "/"
    if uri.startswith(root):
        key = uri[len(root) :]
        try:
            return Path(store.local_path(key))
        except ValueError:
            return Path(store.get_dir(key, scratch / key.replace("/", "_")))
    path = Path(uri.removeprefix("file://"))
    if path.exists():
        return path
    raise LaunchError(f"cannot find {uri} locally or in the artifact store {store.root_url}")


def model_source(runtime: Any, model_name: str, scratch: Path) -> ModelSource:
    """Where a registered model version's base and adapter are (registry `models` row)."""
    from crucible.common.registry import ModelVersion

    with runtime.registry.session() as s:
        mv = s.get(ModelVersion, model_name)
        if mv is None:
            raise LookupError(f"model {model_name!r} is not in the registry")
        base_model, adapter_uri = mv.base_model, mv.adapter_uri
    home = Path(runtime.settings.home)
    base = resolve_base_path(home, base_model or TINY_BASE_NAME)
    adapter = resolve_artifact_dir(runtime, adapter_uri, scratch) if adapter_uri else None
    return ModelSource(model_name, base, adapter)


class TgiDevProcess:
    """`python -m crucible.tgidev` as a child process on a free port."""

    def __init__(self, model: Path, adapter: Path | None = None, *, log_dir: Path | None = None) -> None:
        self.model = model
        self.adapter = adapter
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = (log_dir or Path(tempfile.gettempdir())) / f"tgi-dev-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 180.0) -> TgiDevProcess:
        cmd = [sys.executable, "-m", "crucible.tgidev", "--model", str(self.model), "--port", str(self.port)]
        if self.adapter is not None:
            cmd += ["--adapter", str(self.adapter)]
        env = {
            **os.environ,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            "TOKENIZERS_PARALLELISM": "false",
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    tail = self.log_path.read_text(errors="replace")[-2000:]
                    raise LaunchError(f"tgi-dev exited with {self.proc.returncode}: {tail}")
                try:
                    if (await client.get(f"{self.url}/health")).status_code == 200:
                        log.info(
                            "tgi-dev up on %s (%s%s)",
                            self.url,
                            self.model,
                            f" + {self.adapter}" if self.adapter else "",
                        )
                        return self
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.25)
        self.stop()
        raise LaunchError(f"tgi-dev did not become healthy within {timeout:.0f}s (log: {self.log_path})")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class TgiDevLauncher:
    """Starts (and later stops) tgi-dev backends for registry models; one process per model."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.processes: dict[str, TgiDevProcess] = {}
        self.scratch = Path(tempfile.mkdtemp(prefix="crucible-gateway-"))
        self.log_dir = Path(runtime.settings.home) / "logs"

    async def serve_base(self, base_model: str, name: str | None = None) -> BackendSpec:
        path = resolve_base_path(Path(self.runtime.settings.home), base_model)
        proc = await TgiDevProcess(path, log_dir=self.log_dir).start()
        key = name or base_model
        self.processes[key] = proc
        return BackendSpec(model=key, url=proc.url)

    async def serve_model(self, model_name: str, url: str = "") -> BackendSpec:
        if url:
            return BackendSpec(model=model_name, url=url)
        if model_name in self.processes:
            return BackendSpec(model=model_name, url=self.processes[model_name].url)
        source = model_source(self.runtime, model_name, self.scratch)
        proc = await TgiDevProcess(source.base_path, source.adapter_path, log_dir=self.log_dir).start()
        self.processes[model_name] = proc
        return BackendSpec(model=model_name, url=proc.url)

    def stop_all(self) -> None:
        for proc in self.processes.values():
            proc.stop()
        self.processes.clear()
