"""`crucible serving prepare` (TGI's entrypoint step) and `crucible serving sync` (vLLM's sidecar):
the registry's adapters for a serving pool, from the artifact store onto the fleet's disk.

Both read only the registry and the artifact store (no bus). The decisions live in
`crucible.gateway.adapter_sync`; this is the shell around them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crucible.common.lifecycle import DEFAULT_POOL, SERVING, models_with
from crucible.gateway.adapter_sync import (
    LEAVING_STATUSES,
    SYNC_STATUSES,
    Adapter,
    AdapterError,
    clean_leftovers,
    install_adapter,
    lora_adapters_value,
    plan_prepare,
    plan_sync,
    present_adapters,
    remove_adapter,
    write_env_file,
)

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

log = logging.getLogger("crucible.gateway.serving")

serving_app = typer.Typer(help="Put the registry's adapters where the serving fleet reads them.", no_args_is_help=True)

STATUS_FILE = ".crucible-sync.json"

DirOpt = Annotated[
    Path, typer.Option("--dir", help="Adapter folder as this container sees it (one sub-folder a model).")
]
PoolOpt = Annotated[str, typer.Option("--pool", help="Serving pool (one base model) whose adapters to fetch.")]
BaseOpt = Annotated[
    str,
    typer.Option(
        "--base",
        help="The fleet's base model (TGI MODEL_ID, vLLM --model): adapters for another base are skipped. "
        "Default: the pool's serving model's base; none serving = not checked.",
    ),
]


def _runtime() -> Runtime:
    from crucible.common.cli_support import runtime_from_env

    # No migration here: these run beside a server, and the chart's migration job owns the schema.
    return runtime_from_env(migrate=False)


def registry_adapters(runtime: Runtime, pool: str) -> list[Adapter]:
    """The pool's models that matter to the fleet's disk (wanted or leaving), in registry order."""
    with runtime.registry.session() as s:
        rows = models_with(s, SYNC_STATUSES + LEAVING_STATUSES, pool)
        return [Adapter(r.name, r.status, r.base_model, r.adapter_uri) for r in rows]


def fleet_base(adapters: list[Adapter], base: str) -> str:
    if base:
        return base
    return next((a.base_model for a in adapters if a.status == SERVING), "")


@dataclass
class PrepareResult:
    installed: list[tuple[str, Path]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    serving_failed: str = ""


def prepare(
    runtime: Runtime, folder: Path, pool: str, base: str = "", *, max_rank: int = 0, serving_optional: bool = False
) -> PrepareResult:
    """Install every `serving`/`canary` adapter of `pool` into `folder`; a bad one is skipped and
    logged, the serving one failing is recorded in `serving_failed`."""
    adapters = registry_adapters(runtime, pool)
    expected = fleet_base(adapters, base)
    if not expected:
        log.warning("pool %s: no --base and no serving model: adapters' base models are not checked", pool)
    clean_leftovers(folder)
    result = PrepareResult()
    for adapter in plan_prepare(adapters):
        try:
            path = install_adapter(runtime.artifacts, adapter, folder, expected_base=expected, max_rank=max_rank)
        except AdapterError as err:
            log.error("pool %s: skipping adapter %s (%s): %s", pool, adapter.name, adapter.status, err)
            result.skipped[adapter.name] = str(err)
            if adapter.status == SERVING and not serving_optional:
                result.serving_failed = f"the serving model {adapter.name}'s adapter cannot be served: {err}"
            continue
        log.info("pool %s: adapter %s (%s) ready at %s", pool, adapter.name, adapter.status, path)
        result.installed.append((adapter.name, path))
    return result


@serving_app.command("prepare", context_settings={"allow_interspersed_args": False})
def prepare_cmd(
    folder: DirOpt,
    command: Annotated[
        list[str] | None, typer.Argument(help="After `--`: the server to exec with LORA_ADAPTERS set.")
    ] = None,
    pool: PoolOpt = DEFAULT_POOL,
    base: BaseOpt = "",
    env_file: Annotated[
        Path | None, typer.Option("--env-file", help="Write LORA_ADAPTERS=... here (for `set -a; . FILE`).")
    ] = None,
    max_rank: Annotated[int, typer.Option("--max-rank", help="Skip adapters above this LoRA rank (0 = any).")] = 0,
    serving_optional: Annotated[
        bool,
        typer.Option(
            "--serving-optional",
            help="Start even without the pool's serving adapter (a second fleet on a new base model, which "
            "serves only candidates for that base).",
        ),
    ] = False,
) -> None:
    """Pull the pool's serving and canary adapters into DIR/<model>/, then set LORA_ADAPTERS.

    TGI reads LORA_ADAPTERS only at start: run this before its launcher (an initContainer with
    --env-file, or as the entrypoint with `-- text-generation-launcher ...`). Each adapter is
    downloaded to a temporary folder, checked (adapter_config.json, whole weights, base model)
    and renamed into place. A bad adapter is skipped with a log line; the serving model's
    adapter failing exits 1, because the server must not start without what it serves."""
    runtime = _runtime()
    try:
        result = prepare(runtime, folder, pool, base, max_rank=max_rank, serving_optional=serving_optional)
    finally:
        runtime.registry.dispose()
    if result.serving_failed:
        typer.echo(f"serving prepare: {result.serving_failed}", err=True)
        raise typer.Exit(1)
    try:
        value = lora_adapters_value(result.installed)
    except AdapterError as err:
        typer.echo(f"serving prepare: {err}", err=True)
        raise typer.Exit(1) from None
    env = {"LORA_ADAPTERS": value} if value else {}
    if env_file is not None:
        write_env_file(env_file, env)
    log.info(
        "pool %s: %d adapter(s) ready (%s), %d skipped",
        pool,
        len(result.installed),
        value or "none",
        len(result.skipped),
    )
    if command:
        child_env = {k: v for k, v in os.environ.items() if k != "LORA_ADAPTERS"} | env
        sys.stdout.flush()
        sys.stderr.flush()
        os.execvpe(command[0], command, child_env)


@dataclass
class SyncStatus:
    """What the sidecar last did; served on /readyz and written to DIR/.crucible-sync.json.
    `ready` turns true after the first pass that read the registry and stays true: a registry
    outage later must not take a serving pod out of rotation (`error` says what failed)."""

    ready: bool = False
    last_pass_at: float = 0.0
    adapters: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "last_pass_at": self.last_pass_at,
            "adapters": self.adapters,
            "failed": self.failed,
            "error": self.error,
        }


def sync_once(
    runtime: Runtime,
    folder: Path,
    pool: str,
    base: str = "",
    *,
    max_rank: int = 0,
    previous: SyncStatus | None = None,
) -> SyncStatus:
    """One pass: fetch what the pool wants and DIR lacks, remove what has left. A failure to read
    the registry leaves DIR as it is and sets `error`; a bad adapter is logged when its reason
    first appears and retried next pass."""
    previous = previous or SyncStatus()
    status = SyncStatus(ready=previous.ready, last_pass_at=time.time())
    try:
        adapters = registry_adapters(runtime, pool)
    except Exception as err:  # the database may be briefly unreachable; the next pass retries
        status.error = f"cannot read the registry: {err}"
        status.adapters = present_adapters(folder)
        log.error("pool %s: %s", pool, status.error)
        return status
    expected = fleet_base(adapters, base)
    clean_leftovers(folder)
    plan = plan_sync(adapters, present_adapters(folder))
    for adapter in plan.fetch:
        try:
            path = install_adapter(runtime.artifacts, adapter, folder, expected_base=expected, max_rank=max_rank)
        except AdapterError as err:
            status.failed[adapter.name] = str(err)
            if previous.failed.get(adapter.name) != str(err):
                log.error("pool %s: skipping adapter %s (%s): %s", pool, adapter.name, adapter.status, err)
            continue
        log.info("pool %s: fetched adapter %s (%s) into %s", pool, adapter.name, adapter.status, path)
    for name in plan.remove:
        remove_adapter(folder, name)
        log.info("pool %s: removed adapter %s (no longer served)", pool, name)
    status.adapters = present_adapters(folder)
    status.ready = True
    return status


def write_status(folder: Path, status: SyncStatus) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{STATUS_FILE}.tmp"
    tmp.write_text(json.dumps(status.as_dict(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / STATUS_FILE)


class _Probe(BaseHTTPRequestHandler):
    """GET /readyz: 200 once a pass has read the registry and placed what it could (the pod's
    server starts after it). GET /healthz: 200 unless the loop has not finished a pass for
    `max_age` seconds (wedged; a slow download is allowed for)."""

    status: SyncStatus = SyncStatus()
    max_age: float = 600.0

    def do_GET(self) -> None:
        stale = bool(self.status.last_pass_at) and time.time() - self.status.last_pass_at > self.max_age
        if self.path.startswith("/readyz"):
            code = 200 if self.status.ready else 503
        elif self.path.startswith("/healthz"):
            code = 503 if stale else 200
        else:
            code = 404
        body = json.dumps(self.status.as_dict()).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # kubelet probes every few seconds: not worth a log line


def start_probe(port: int, max_age: float) -> tuple[ThreadingHTTPServer, type[_Probe]]:
    handler = type("Probe", (_Probe,), {"status": SyncStatus(), "max_age": max_age})
    from crucible.common.config import Settings

    server = ThreadingHTTPServer((Settings().metrics_host, port), handler)
    threading.Thread(target=server.serve_forever, name="serving-sync-probe", daemon=True).start()
    return server, handler


@serving_app.command("sync")
def sync_cmd(
    folder: DirOpt,
    pool: PoolOpt = DEFAULT_POOL,
    base: BaseOpt = "",
    interval: Annotated[float, typer.Option("--interval", help="Seconds between passes.", min=0.1)] = 15.0,
    once: Annotated[
        bool,
        typer.Option("--once", help="One pass, then exit (1 if the registry could not be read or an adapter failed)."),
    ] = False,
    max_rank: Annotated[
        int, typer.Option("--max-rank", help="Skip adapters above this LoRA rank (vLLM --max-lora-rank; 0 = any).")
    ] = 0,
    probe_port: Annotated[
        int, typer.Option("--probe-port", help="Serve GET /readyz and /healthz on this port (0 = off).")
    ] = 0,
) -> None:
    """Keep DIR holding every evaluated, canary and serving adapter of the pool (vLLM's sidecar).

    Adapters arrive before the gateway's runtime load call names them; retired, rolled-back and
    rejected ones are removed once they have left (never a serving one, nor folders the registry
    does not know). Writes are atomic; each change is logged; DIR/.crucible-sync.json says what
    the last pass did, /readyz whether the first one has."""
    runtime = _runtime()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    probe = start_probe(probe_port, max_age=max(10 * interval, 600.0)) if probe_port else None
    status = SyncStatus()
    try:
        while True:
            status = sync_once(runtime, folder, pool, base, max_rank=max_rank, previous=status)
            write_status(folder, status)
            if probe is not None:
                probe[1].status = status
            if once or stopping.wait(interval):
                break
    finally:
        if probe is not None:
            probe[0].shutdown()
        runtime.registry.dispose()
    if once and (status.error or status.failed):
        typer.echo(f"serving sync: {status.error or 'adapters not placed: ' + ', '.join(status.failed)}", err=True)
        raise typer.Exit(1)
