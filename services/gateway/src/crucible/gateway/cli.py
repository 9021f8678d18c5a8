"""`crucible rollout start MODEL | status | promote | abort`.

`status` reads the rollout document and figures straight from the JetStream KV bucket (the
source of truth every replica reads), so it works with or without a gateway running; the
changing commands go through a gateway's admin RPCs (`--gateway`, bearer `--token`), so the
gateway that routes traffic is the one that starts, promotes and aborts.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

rollout_app = typer.Typer(help="Canary rollouts through the model gateway.", no_args_is_help=True)

# Help text is rich markup: name variables through `envvar` (shown escaped), never as "[env X]".
GatewayOpt = Annotated[
    str | None, typer.Option("--gateway", envvar="CRUCIBLE_GATEWAY_ADDRESS", help="gRPC address of a gateway.")
]
TokenOpt = Annotated[
    str | None, typer.Option("--token", envvar="CRUCIBLE_GATEWAY_ADMIN_TOKEN", help="Admin bearer token.")
]


def _admin_call(method: str, request: Any, gateway: str | None, token: str | None) -> dict[str, Any]:
    import grpc
    from google.protobuf.json_format import MessageToDict

    from crucible.gateway.policy import GatewaySettings
    from crucible.v1 import gateway_pb2_grpc

    settings = GatewaySettings()
    address = gateway or settings.address
    token = token or settings.admin_token
    if not token:
        raise typer.BadParameter("an admin token is required (--token or CRUCIBLE_GATEWAY_ADMIN_TOKEN)")
    creds = None
    if settings.tls_cert is not None:
        creds = grpc.ssl_channel_credentials(root_certificates=settings.tls_cert.read_bytes())
    with grpc.secure_channel(address, creds) if creds else grpc.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.ModelGatewayStub(channel)
        try:
            status = getattr(stub, method)(request, metadata=(("authorization", f"Bearer {token}"),), timeout=30)
        except grpc.RpcError as err:
            typer.echo(f"{method} failed: {err.code().name}: {err.details()}", err=True)
            raise typer.Exit(1) from None
    return MessageToDict(status, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def _print_status(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(status, indent=2, sort_keys=True, default=str))
        return
    typer.echo(
        f"rollout {status.get('rollout_id') or '-'}: {status.get('state')}  "
        f"stable={status.get('stable_model') or '-'} candidate={status.get('candidate_model') or '-'}"
    )
    stages = status.get("stages") or []
    stage = int(status.get("stage_index", 0) or 0)
    weight = float(status.get("canary_weight", 0) or 0)
    if stages:
        typer.echo(f"stage {stage + 1}/{len(stages)} ({', '.join(f'{s:g}%' for s in stages)})")
    typer.echo(f"weights: canary {weight:g}%  stable {100 - weight:g}%")
    figures = status.get("figures") or []
    if figures:
        typer.echo(
            f"{'variant':<8} {'model':<32} {'requests':>8} {'err%':>6} {'p95 ms':>7} {'ttft ms':>7} "
            f"{'rating':>6} {'ratings':>7} {'safety':>6} {'advice%':>7} {'fb/req%':>7} {'outcome+%':>9}"
        )
        for f in figures:
            typer.echo(
                f"{f['variant']:<8} {str(f['model'])[:32]:<32} {int(f.get('requests', 0)):>8} "
                f"{100 * float(f.get('error_rate', 0)):>6.1f} {1000 * float(f.get('p95_latency_seconds', 0)):>7.0f} "
                f"{1000 * float(f.get('p95_ttft_seconds', 0)):>7.0f} {float(f.get('mean_satisfaction', 0)):>6.2f} "
                f"{int(f.get('feedback_count', 0)):>7} {int(f.get('safety_incidents', 0)):>6} "
                f"{100 * float(f.get('advice_acceptance', 0)):>7.1f} {100 * float(f.get('feedback_rate', 0)):>7.1f} "
                f"{_outcomes(f):>9}"
            )
    decisions = status.get("decisions") or []
    if decisions:
        typer.echo("decisions:")
        for d in decisions:
            typer.echo(
                f"  {d.get('at')}  stage {int(d.get('stage_index', 0)) + 1}  {d.get('action'):<9} {d.get('reason')}"
            )


def _outcomes(f: dict[str, Any]) -> str:
    """Share of positive outcome reports, with how many there were ("-" when none)."""
    n = int(f.get("outcome_reports", 0) or 0)
    return f"{100 * float(f.get('positive_outcome_rate', 0)):.0f} ({n})" if n else "-"


@rollout_app.command("status")
def status(
    gateway: Annotated[
        str | None,
        typer.Option("--gateway", help="Ask this gateway (gRPC GetRollout) instead of reading the KV bucket."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the stage, weights, per-variant figures and the decision history."""
    if gateway:
        _print_status(_gateway_status(gateway), as_json)
        return
    _print_status(asyncio.run(_with_store(_read_status)), as_json)


@rollout_app.command("reset")
def reset(
    force: Annotated[bool, typer.Option("--force", help="Also clear a rollout that is still in progress.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Clear stale rollout state (admin): an idle document with no stored backends and no figures.

    Running gateways then take the stable backend from their configuration and the registry's
    serving model again. A rollout in progress is refused unless --force (abort it instead)."""
    from crucible.gateway import state as st

    async def clear(store: Any) -> dict[str, Any]:
        current, revision = await store.load()
        if current.state in st.ACTIVE and not force:
            raise typer.BadParameter(
                f"rollout {current.rollout_id} is {current.state}: `crucible rollout abort` it, or pass --force"
            )
        await store.save(st.RolloutState(), revision)
        await store.drop_figures_except("")
        return await _read_status(store)

    _print_status(asyncio.run(_with_store(clear)), as_json)


async def _read_status(store: Any) -> dict[str, Any]:
    from crucible.gateway.rollout import rollout_status

    return await rollout_status(store)


async def _with_store(action: Any) -> Any:
    from crucible.common.cli_support import runtime_from_env
    from crucible.common.embedded import connected_bus
    from crucible.gateway.policy import GatewaySettings
    from crucible.gateway.store import KVStore

    runtime = runtime_from_env()
    try:
        async with connected_bus(runtime) as bus:
            return await action(KVStore(await bus.key_value(GatewaySettings().kv_bucket)))
    finally:
        await runtime.close()


def _gateway_status(address: str) -> dict[str, Any]:
    import grpc
    from google.protobuf.json_format import MessageToDict

    from crucible.gateway.policy import GatewaySettings
    from crucible.v1 import gateway_pb2, gateway_pb2_grpc

    settings = GatewaySettings()
    creds = grpc.ssl_channel_credentials(settings.tls_cert.read_bytes()) if settings.tls_cert else None
    with grpc.secure_channel(address, creds) if creds else grpc.insecure_channel(address) as channel:
        try:
            reply = gateway_pb2_grpc.ModelGatewayStub(channel).GetRollout(gateway_pb2.GetRolloutRequest(), timeout=30)
        except grpc.RpcError as err:
            typer.echo(f"error: GetRollout on {address} failed: {err.code().name}: {err.details()}", err=True)
            raise typer.Exit(1) from None
    return MessageToDict(reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


@rollout_app.command("start")
def start(
    model: Annotated[str, typer.Argument(help="Registered model version to roll out.")],
    url: Annotated[str, typer.Option("--url", help="Backend URL serving it (default: the gateway decides).")] = "",
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Start a canary rollout of MODEL against the stable version."""
    from crucible.v1 import gateway_pb2

    req = gateway_pb2.StartRolloutRequest(candidate_model=model, candidate_url=url)
    _print_status(_admin_call("StartRollout", req, gateway, token), as_json)


@rollout_app.command("promote")
def promote(
    reason: Annotated[str, typer.Option("--reason")] = "",
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Move the canary to the next stage now (or resume a paused rollout)."""
    from crucible.v1 import gateway_pb2

    _print_status(_admin_call("Promote", gateway_pb2.PromoteRequest(reason=reason), gateway, token), as_json)


@rollout_app.command("abort")
def abort(
    reason: Annotated[str, typer.Option("--reason")] = "",
    gateway: GatewayOpt = None,
    token: TokenOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Stop the rollout: all traffic back to stable."""
    from crucible.v1 import gateway_pb2

    _print_status(_admin_call("Abort", gateway_pb2.AbortRequest(reason=reason), gateway, token), as_json)


def register_cli(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout")
    from crucible.gateway.serving_cli import serving_app

    app.add_typer(serving_app, name="serving")
