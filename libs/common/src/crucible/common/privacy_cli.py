"""`crucible forget`, `crucible export`, `crucible optout add|remove|list`, `crucible retention run`.

They go through every subject store (`store_registry.all_stores()`); heavy imports stay inside
the commands so `crucible --help` stays quick. The user id is turned into the subject token
(HMAC with CRUCIBLE_SUBJECT_SECRET) at once and is never stored or printed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from crucible.common.cli_support import PolicyOpt, runtime_from_env

UserIdOpt = Annotated[str, typer.Option("--user-id", help="The app's user id (never stored or printed).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
BusOpt = Annotated[
    bool,
    typer.Option(
        "--publish/--no-publish",
        help="Use the bus: search and clean DLQ/EVENTS, tell running services (embedded server when unset).",
    ),
]


def _echo(data: Any, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str) if as_json else text)


def _run(runtime: Any, use_bus: bool, fn: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `fn(runtime)` with the bus connected when asked; always release the registry."""

    async def main() -> Any:
        if not use_bus:
            return await fn(runtime)
        from crucible.common.embedded import connected_bus

        async with connected_bus(runtime):
            return await fn(runtime)

    try:
        return asyncio.run(main())
    finally:
        runtime.registry.dispose()


def register(app: typer.Typer) -> None:
    @app.command("forget")
    def forget_cmd(
        user_id: UserIdOpt, policy: PolicyOpt = None, as_json: JsonOpt = False, publish: BusOpt = True
    ) -> None:
        """Forget a person everywhere: registry, dataset files, dedup index, review queue, DLQ and
        EVENTS, interaction and feedback stores; mark models; print and log a receipt."""
        from crucible.common.forgetting import forget_subject_everywhere, format_receipt
        from crucible.common.privacy_keys import subject_token

        runtime = runtime_from_env(policy)
        token = subject_token(runtime.subject_secret(), user_id)
        receipt = _run(runtime, publish, lambda rt: forget_subject_everywhere(rt, token))
        _echo(receipt, as_json, format_receipt(receipt))

    @app.command("export")
    def export_cmd(
        user_id: UserIdOpt,
        out: Annotated[Path, typer.Option("--out", help="The JSON file to write.")],
        policy: PolicyOpt = None,
    ) -> None:
        """Write everything Crucible holds about a person (records as stored, labels, versions and
        models that used them, opt-out state, receipts) as JSON."""
        from crucible.common.privacy_keys import subject_token
        from crucible.common.subject_export import export_subject

        runtime = runtime_from_env(policy)
        token = subject_token(runtime.subject_secret(), user_id)
        data = _run(runtime, False, lambda rt: export_subject(rt, token))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n")
        counts = {
            name: sum(len(v) for v in part.values() if isinstance(v, list)) for name, part in data["stores"].items()
        }
        typer.echo(f"wrote {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    optout_app = typer.Typer(
        help="The opt-out list: never extracted, interactions never published.", no_args_is_help=True
    )
    app.add_typer(optout_app, name="optout")

    @optout_app.command("add")
    def optout_add(user_id: UserIdOpt, policy: PolicyOpt = None, publish: BusOpt = True) -> None:
        """Put a person on the opt-out list (and tell running services)."""
        _optout_change(user_id, policy, publish, add=True)

    @optout_app.command("remove")
    def optout_remove(user_id: UserIdOpt, policy: PolicyOpt = None, publish: BusOpt = True) -> None:
        """Take a person off the opt-out list (and tell running services)."""
        _optout_change(user_id, policy, publish, add=False)

    @optout_app.command("list")
    def optout_list(policy: PolicyOpt = None, as_json: JsonOpt = False) -> None:
        """The opt-out list, by subject digest (no user ids are kept)."""
        from crucible.common.optout import list_optouts

        runtime = runtime_from_env(policy)
        rows = list_optouts(runtime.registry)
        runtime.registry.dispose()
        text = "\n".join(f"{r['subject_digest']}  since {r['added_at']}" for r in rows) or "nobody has opted out"
        _echo(rows, as_json, text)

    retention_app = typer.Typer(help="Retention: remove what is older than the policy's ages.", no_args_is_help=True)
    app.add_typer(retention_app, name="retention")

    @retention_app.command("run")
    def retention_run(
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Count what would be removed; remove nothing.")
        ] = False,
        metrics_file: Annotated[
            Path | None,
            typer.Option("--metrics-file", help="Also write the counts as Prometheus text (textfile collector)."),
        ] = None,
        pushgateway: Annotated[
            str | None, typer.Option("--pushgateway", help="Also push the counts to this Prometheus Pushgateway.")
        ] = None,
        store: Annotated[
            list[str] | None, typer.Option("--store", help="Only these subject stores (repeat); default: every one.")
        ] = None,
        policy: PolicyOpt = None,
        as_json: JsonOpt = False,
        publish: BusOpt = True,
    ) -> None:
        """Apply privacy.retention: raw stream, DLQ, EVENTS, review items, interaction logs, run logs;
        archive old dataset versions and delete archived ones after archive_months."""
        from crucible.common.retention import push_metrics, run_retention, write_metrics
        from crucible.common.store_registry import all_stores

        stores = all_stores()
        if store:
            unknown = sorted(set(store) - {s.name for s in stores})
            if unknown:
                typer.echo(f"unknown store(s) {unknown}; installed: {[s.name for s in stores]}", err=True)
                raise typer.Exit(2)
            stores = [s for s in stores if s.name in store]
        runtime = runtime_from_env(policy)
        summary = _run(runtime, publish, lambda rt: run_retention(rt, dry_run=dry_run, stores=stores))
        if metrics_file is not None:
            write_metrics(metrics_file)
        if pushgateway:
            push_metrics(pushgateway)
        lines = [("would remove" if dry_run else "removed") + f" (policy ages as of {summary['now']}):"]
        for name, counts in summary["stores"].items():
            lines.append(f"  {name:<10} " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        _echo(summary, as_json, "\n".join(lines))


def _optout_change(user_id: str, policy: Path | None, publish: bool, *, add: bool) -> None:
    from crucible.common.optout import add_optout, publish_optout, remove_optout
    from crucible.common.privacy_keys import subject_token

    runtime = runtime_from_env(policy)
    token = subject_token(runtime.subject_secret(), user_id)

    async def change(rt: Any) -> bool:
        changed = add_optout(rt.registry, token, "crucible optout") if add else remove_optout(rt.registry, token)
        if rt.bus is not None:
            await publish_optout(rt, token, add, "crucible optout")
        return changed

    changed = _run(runtime, publish, change)
    verb = "added to" if add else "removed from"
    typer.echo(f"{verb} the opt-out list" if changed else f"already {'on' if add else 'off'} the opt-out list")
