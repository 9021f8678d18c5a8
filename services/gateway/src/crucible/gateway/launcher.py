"""The serving fleet the gateway starts itself on one machine: a tgi-dev child process serving
the base model, into which adapters are delivered through vLLM's runtime LoRA API.

In production the fleet is TGI or vLLM Deployments and the gateway only gets their URL; this is
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
from pathlib import Path
from typing import Any

import httpx

from crucible.gateway.state import BackendSpec

log = logging.getLogger(__name__)

TINY_BASE_NAME = "tiny-base"  # the trainer records this name for $CRUCIBLE_HOME/models/tiny-base


class LaunchError(RuntimeError):
    pass


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


class TgiDevProcess:
    """`python -m crucible.tgidev` as a child process on a free port."""

    def __init__(
        self, model: Path, adapter: Path | None = None, *, log_dir: Path | None = None, served_name: str | None = None
    ) -> None:
        self.model = model
        self.adapter = adapter
        self.served_name = served_name
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
        if self.served_name:  # the id OpenAI requests name the base by (vLLM's --served-model-name)
            cmd += ["--served-model-name", self.served_name]
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
    """Starts (and later stops) the tgi-dev process serving a base model."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.processes: dict[str, TgiDevProcess] = {}
        self.scratch = Path(tempfile.mkdtemp(prefix="crucible-gateway-"))
        self.log_dir = Path(runtime.settings.home) / "logs"

    async def serve_base(self, base_model: str, name: str | None = None) -> BackendSpec:
        path = resolve_base_path(Path(self.runtime.settings.home), base_model)
        key = name or base_model
        proc = await TgiDevProcess(path, log_dir=self.log_dir, served_name=key).start()
        self.processes[key] = proc
        return BackendSpec(model=key, url=proc.url)

    def stop_all(self) -> None:
        for proc in self.processes.values():
            proc.stop()
        self.processes.clear()
