"""The `crucible` command. Platform commands live here; each service adds its own
(`crucible scrub`, `crucible review ...`) through `ServiceSpec.register_cli`, and its
benchmarks through `ServiceSpec.benches` (`crucible bench <name>`)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from crucible.common import __version__
from crucible.common.services import discover_services

app = typer.Typer(
    name="crucible",
    help="Crucible: turn an application's own conversations into safe, fine-tuned, evaluated, canary-deployed LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
bench_app = typer.Typer(help="Benchmarks: print JSON with the figure and a baseline measured in the same run.")
app.add_typer(bench_app, name="bench")


@app.command()
def version() -> None:
    """Print the platform version and every installed service with its version."""
    typer.echo(f"crucible {__version__}")
    for name, spec in discover_services().items():
        typer.echo(f"  {name:<12} {spec.version}  {spec.description}")


def _register_benches() -> None:
    for spec in discover_services().values():
        for bench_name, fn in spec.benches.items():

            def command(
                as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
                quick: Annotated[bool, typer.Option("--quick", help="A smaller, faster run (for tests).")] = False,
                _fn=fn,
            ) -> None:
                result = _fn(quick=quick)
                if as_json:
                    typer.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
                else:
                    from rich import print_json

                    print_json(data=result)

            command.__doc__ = (fn.__doc__ or f"Benchmark {bench_name}.").strip().splitlines()[0]
            bench_app.command(bench_name)(command)


def build_app() -> typer.Typer:
    """The full CLI: platform commands plus every installed service's commands."""
    if not getattr(build_app, "_built", False):
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
