"""`crucible dataset build|list|lineage` (`crucible forget` is the platform's: `privacy_cli`)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from crucible.common.cli_support import runtime_from_env

log = logging.getLogger(__name__)

PolicyOpt = Annotated[Path | None, typer.Option("--policy", help="Policy YAML (default: ./crucible.yaml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
PublishOpt = Annotated[
    bool, typer.Option("--publish/--no-publish", help="Publish the event on the bus (embedded server when unset).")
]


async def _with_bus(runtime: Any, publish: bool, fn: Any) -> Any:
    """Run `fn(runtime)` with the bus connected when publishing (so events go out), else without."""
    if not publish:
        return await fn(runtime)
    from crucible.common.embedded import connected_bus

    async with connected_bus(runtime):
        return await fn(runtime)


def _echo(data: Any, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str) if as_json else text)


def register(app: typer.Typer) -> None:
    dataset_app = typer.Typer(help="Dataset versions: build, list, lineage.", no_args_is_help=True)
    app.add_typer(dataset_app, name="dataset")

    @dataset_app.command("build")
    def build_cmd(policy: PolicyOpt = None, as_json: JsonOpt = False, publish: PublishOpt = True) -> None:
        """Build the next dataset version from the curated store and publish dataset.ready."""
        from crucible.dataset.builder import DatasetBuildError
        from crucible.dataset.service import build

        runtime = runtime_from_env(policy)
        try:
            summary = asyncio.run(_with_bus(runtime, publish, build))
        except DatasetBuildError as err:
            typer.echo(f"dataset build failed: {err}", err=True)
            raise typer.Exit(1) from None
        finally:
            runtime.registry.dispose()
        text = [
            f"built {summary['dataset_version']}: {summary['records']} records {summary['split_counts']}",
            f"  manifest: {summary['manifest_uri']}",
            f"  fairness: {summary['fairness_score']:.1f} (target {summary['fairness_target']:g})"
            + ("  BELOW TARGET" if summary["below_fairness_target"] else ""),
        ]
        if summary["deficits"]:
            text.append(f"  category deficits: {summary['deficits']}")
        text += [f"  - {r}" for r in summary["recommendations"]]
        _echo(summary, as_json, "\n".join(text))

    @dataset_app.command("preferences")
    def preferences_cmd(policy: PolicyOpt = None, as_json: JsonOpt = False) -> None:
        """Build a preference version (chosen/rejected pairs for DPO) from the review queue's decisions
        and the evaluator's pairwise verdicts; `crucible run` adds the rollout's rated traffic."""
        from crucible.dataset.service import preferences

        runtime = runtime_from_env(policy)
        try:
            summary = asyncio.run(preferences(runtime, []))
        finally:
            runtime.registry.dispose()
        if summary.get("skipped"):
            typer.echo(f"no preference version built: {summary['skipped']}", err=True)
            raise typer.Exit(1)
        text = (
            f"built {summary['dataset_version']}: {summary['pairs']} pairs {summary['by_source']} "
            f"{summary['split_counts']}\n  manifest: {summary['manifest_uri']}"
        )
        _echo(summary, as_json, text)

    @dataset_app.command("list")
    def list_cmd(policy: PolicyOpt = None, as_json: JsonOpt = False) -> None:
        """List dataset versions with their counts, fairness and forget marks."""
        from crucible.dataset.versions import list_versions

        runtime = runtime_from_env(policy)
        rows = list_versions(runtime.registry)
        runtime.registry.dispose()
        lines = [
            f"{r['version']:<16} {r['records']:>8} records  fairness {r['fairness_score']:5.1f}"
            + ("  below-target" if r["below_fairness_target"] else "")
            + ("  contains_forgotten_subject" if r["contains_forgotten_subject"] else "")
            for r in rows
        ]
        _echo(rows, as_json, "\n".join(lines) or "no dataset versions yet")

    @dataset_app.command("lineage")
    def lineage_cmd(record_id: str, policy: PolicyOpt = None, as_json: JsonOpt = False) -> None:
        """Show a curated record's lineage: source, stage versions, dedup cluster, dataset versions."""
        from crucible.dataset.lineage import record_lineage

        runtime = runtime_from_env(policy)
        info = record_lineage(runtime.registry, record_id)
        runtime.registry.dispose()
        if info is None:
            typer.echo(f"no curated record {record_id!r}", err=True)
            raise typer.Exit(1)
        _echo(info, as_json, json.dumps(info, indent=2, sort_keys=True, default=str))
