"""The `crucible` command. Platform commands live here; each service adds its own
(`crucible scrub`, `crucible review ...`) through `ServiceSpec.register_cli`, and its
benchmarks through `ServiceSpec.benches` (`crucible bench <name>`).

Start-up is kept short (`crucible --help` loads every service's spec and CLI module): this
module, the specs and the CLI modules import only typer and the standard library at module
level; a command imports what it needs in its body. `tests/unit/common/test_cli_imports.py`
guards it and `bench/cli_startup.py` measures it against a bare typer app."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any, Literal

import typer

from crucible.common import __version__
from crucible.common.cli_support import CrucibleGroup, PolicyOpt, report, runtime_from_env
from crucible.common.services import discover_services

app = typer.Typer(
    name="crucible",
    cls=CrucibleGroup,
    help="Crucible: turn an application's own conversations into safe, fine-tuned, evaluated, canary-deployed LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
bench_app = typer.Typer(help="Benchmarks: print JSON with the figure and a baseline measured in the same run.")
app.add_typer(bench_app, name="bench")


@app.callback()
def talk(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Everything: debug logs, third-party logs, warnings, progress bars.")
    ] = False,
    log_format: Annotated[
        Literal["auto", "json", "text"],
        typer.Option("--log-format", help="auto: quiet, for people, on a terminal, JSON lines otherwise; json; text."),
    ] = "auto",
) -> None:
    # Runs before every command, before it imports anything heavy: third-party progress bars
    # and log levels are read by those libraries when they are imported.
    from crucible.common.logs import output_from_environment, setup_logging

    setup_logging(output_from_environment(verbose=verbose, log_format=log_format))


@app.command()
def version() -> None:
    """Print the platform version and every installed service with its version."""
    typer.echo(f"crucible {__version__}")
    for name, spec in discover_services().items():
        typer.echo(f"  {name:<12} {spec.version}  {spec.description}")


@app.command()
def run(
    users: Annotated[int, typer.Option(help="Users in the generated demo database (when no source is set).")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the demo database.")] = 7,
    days: Annotated[int | None, typer.Option(help="Extraction window in days (default: policy).")] = None,
    min_quality: Annotated[float | None, typer.Option(help="Quality threshold (default: policy).")] = None,
    steps: Annotated[
        str | None, typer.Option(help="Comma-separated control-plane steps: dataset,trainer,evaluator,gateway.")
    ] = None,
    policy: PolicyOpt = None,
) -> None:
    """Run the whole job end to end: extract, scrub, score, dedup, build a dataset, train,
    evaluate and roll out. Without configuration it starts the embedded defaults (nats-server,
    SQLite registry, demo app database) under CRUCIBLE_HOME (default .crucible)."""
    import asyncio

    from crucible.common.pipeline import run_pipeline
    from crucible.common.run_view import RunView

    runtime = runtime_from_env(policy)
    view = RunView(runtime)
    view.header()
    try:
        summary = asyncio.run(
            run_pipeline(
                runtime, users=users, seed=seed, days=days, min_quality=min_quality,
                steps=steps.split(",") if steps else None, progress=view.progress,
            )
        )  # fmt: skip
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        view.failed(exc)
        raise typer.Exit(1) from None
    view.final(summary)
    if summary.get("status") != "succeeded":
        raise typer.Exit(1)


@app.command()
def migrate(policy: PolicyOpt = None) -> None:
    """Bring the registry schema up to date (every service's Alembic branch) and, when
    CRUCIBLE_NATS_URL is set, create or update the JetStream streams, then exit. Run once per
    release (the Helm hook Job, as the NATS admin user: the only user allowed to change streams),
    so replicas never race for either."""
    import asyncio

    from crucible.common.redaction import redact_url

    runtime = runtime_from_env(policy)
    typer.echo(f"registry migrated: {redact_url(runtime.registry.url)}")
    if runtime.settings.nats_url:
        asyncio.run(_ensure_streams(runtime))
        typer.echo(f"streams ensured on {redact_url(runtime.settings.nats_url)}")


async def _ensure_streams(runtime: Any) -> None:
    try:
        await runtime.connect(runtime.settings.nats_url)  # Bus.connect ensures the streams
    finally:
        await runtime.close()


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="The service to run (see `crucible version`).")],
    policy: PolicyOpt = None,
) -> None:
    """Run one service until SIGTERM: its stage worker on the bus and/or its control-plane loop.
    Needs CRUCIBLE_NATS_URL (an embedded server is started when unset, for trying it out).
    On CRUCIBLE_METRICS_PORT (when set): /metrics, /livez (event loop alive) and /readyz
    (alive, connected to NATS, every worker and event consumer subscribed, every loop running)."""
    import asyncio

    from crucible.common import logs
    from crucible.common.bus import Bus
    from crucible.common.config import did_you_mean
    from crucible.common.embedded import nats_url_for
    from crucible.common.probes import ProbeState, heartbeat, serve_probes
    from crucible.common.serving import Running, install_stop_signals, run_services
    from crucible.common.tracing import setup_tracing

    specs = discover_services()
    if service not in specs:
        raise typer.BadParameter(f"unknown service {service!r}{did_you_mean(service, specs)}", param_hint="SERVICE")
    spec = specs[service]
    logs.setup_logging(logs.current_output(), service=service)  # each JSON line names the service
    runtime = runtime_from_env(policy)
    setup_tracing(service)
    probes = ProbeState()
    if runtime.settings.metrics_port:
        serve_probes(runtime.settings.metrics_port, probes, host=runtime.settings.metrics_host)

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        beating = asyncio.create_task(heartbeat(probes, stop), name="probes:heartbeat")
        # The checks are registered before start-up, so /readyz says "not ready" until the bus is
        # connected and the workers run: with no checks yet, a live loop alone read as ready while
        # the streams were still being created (and a NATS outage then stopped start-up).
        bus: Bus | None = None
        running: Running | None = None
        probes.add_check("nats", lambda: bus is not None and bus.nc.is_connected)
        probes.add_check("services", lambda: running is not None and not any(t.done() for t in running.tasks))
        probes.add_check("subscribed", lambda: running is not None and running.subscribed)
        async with nats_url_for(runtime) as url:
            bus = await runtime.connect(url)
            running = await run_services(runtime, [spec], stop)
            if not running.tasks:
                typer.echo(f"service {service} has nothing to serve", err=True)
                raise typer.Exit(2)
            await asyncio.gather(*running.tasks)
            await runtime.close()
        stop.set()
        await beating

    asyncio.run(main())


policy_app = typer.Typer(help="The policy file (crucible.yaml): the numbers people tune.")
app.add_typer(policy_app, name="policy")


@policy_app.command("show")
def policy_show(policy: PolicyOpt = None) -> None:
    """Print the effective policy (the file merged over every default) as YAML."""
    import yaml

    runtime = runtime_from_env(policy)
    typer.echo(f"# source: {runtime.policy.source}")
    typer.echo(yaml.safe_dump(runtime.policy.as_dict(), sort_keys=False))


def _bus_bench(quick: bool = False) -> dict:
    """Records/s through one no-op stage over NATS vs the same core in-process (batch sizes 1, 64, 512)."""
    from crucible.common.busbench import run_bus_bench

    return run_bus_bench(quick=quick)


def _all_benches() -> dict[str, Callable[..., dict[str, Any]]]:
    benches: dict[str, Callable[..., dict[str, Any]]] = {"bus": _bus_bench}
    for spec in discover_services().values():
        benches.update(spec.benches)
    return benches


@bench_app.command("list")
def bench_list() -> None:
    """Print the name of every benchmark, one a line (for scripts: make bench)."""
    for name in _all_benches():
        typer.echo(name)


def _register_benches() -> None:
    benches = _all_benches()
    for bench_name, fn in benches.items():
        bench_app.command(bench_name)(_bench_command(bench_name, fn))


def _bench_command(bench_name: str, fn: Callable[..., dict[str, Any]]) -> Callable[..., None]:
    def command(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
        quick: Annotated[bool, typer.Option("--quick", help="A smaller, faster run (for tests).")] = False,
        records: Annotated[
            int | None, typer.Option("--records", min=1, help="Input size, for benches that take one.")
        ] = None,
    ) -> None:
        # Benches are deferred (imported on call), so whether one takes a size shows only when called.
        kwargs: dict[str, Any] = {"quick": quick} if records is None else {"quick": quick, "records": records}
        try:
            result = fn(**kwargs)
        except TypeError as exc:
            if records is not None and "'records'" in str(exc):
                raise typer.BadParameter(f"bench {bench_name} takes no --records", param_hint="--records") from exc
            raise
        if as_json:
            import json

            typer.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
        else:
            from rich import print_json

            print_json(data=result)

    command.__doc__ = (fn.__doc__ or f"Benchmark {bench_name}.").strip().splitlines()[0]
    return command


def build_app() -> typer.Typer:
    """The full CLI: platform commands plus every installed service's commands."""
    if not getattr(build_app, "_built", False):
        from crucible.common.privacy_cli import register as register_privacy

        register_privacy(app)
        _register_benches()
        for spec in discover_services().values():
            if spec.register_cli is not None:
                spec.register_cli(app)
        build_app._built = True  # type: ignore[attr-defined]
    return app


def main() -> None:
    try:
        build_app()(prog_name="crucible")
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # raised outside a command (a bad root option, a broken plugin)
        code = report(exc)
        if code is None:
            raise
        sys.exit(code)


if __name__ == "__main__":
    main()
