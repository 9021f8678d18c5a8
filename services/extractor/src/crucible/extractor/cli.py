"""`crucible demo-db` and `crucible extract`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

# The extractable tables (source.SOURCE_TABLES; a test keeps them equal). Named here so that
# `crucible --help` does not import SQLAlchemy and protobuf.
EXTRACTABLE = ("checkins", "activities", "quiz_results", "conversations", "feedback")


def _print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"extraction {report['run_id']} from {report['source']} (since {report['since'][:19]})")
    for col in ("table", "in window", "extracted", "failed", "skipped (watermark)", "messages", "error"):
        table.add_column(col)
    for name, t in report["tables"].items():
        total = sum(t["failed"].values())
        failed = f"{total} ({', '.join(f'{r}={n}' for r, n in t['failed'].items())})" if total else "0"
        table.add_row(
            name, str(t["in_window"]), str(t["extracted"]), failed, str(t["skipped_by_watermark"]),
            str(t["messages"]), t.get("error", ""),
        )  # fmt: skip
    # Off a terminal rich would wrap at 80 columns: keep one row per table in logs and pipes.
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    typer.echo(
        f"extracted {report['extracted']} of {report['rows']} rows read, failed {sum(report['failed'].values())}, "
        f"skipped by watermark {report['skipped_by_watermark']}, in {report['seconds']} s"
    )


def register(app: typer.Typer) -> None:
    @app.command("demo-db")
    def demo_db_command(
        out: Annotated[str, typer.Option("--out", help="SQLite file path, or a SQLAlchemy URL (PostgreSQL).")],
        users: Annotated[int, typer.Option("--users", min=1, help="Number of app users.")] = 200,
        seed: Annotated[int, typer.Option("--seed", help="Seed: same seed, same database (for a given day).")] = 7,
    ) -> None:
        """Generate a realistic demo database of a relationship-coaching app (PII included):
        users, couples, check-ins, activities, quizzes, coaching conversations, feedback."""
        from crucible.extractor.demo.generator import write_demo

        summary = write_demo(out, users, seed)
        typer.echo(json.dumps(summary, indent=2))

    @app.command("extract")
    def extract_command(
        days: Annotated[int | None, typer.Option("--days", min=1, help="Window in days (default: policy).")] = None,
        min_quality: Annotated[
            float | None, typer.Option("--min-quality", min=0.0, max=10.0, help="Quality threshold (default: policy).")
        ] = None,
        source: Annotated[
            str | None,
            typer.Option(
                "--source",
                help="SQLAlchemy URL or SQLite path (default: CRUCIBLE_SOURCE_URL, else the demo DB in CRUCIBLE_HOME).",
            ),
        ] = None,
        tables: Annotated[
            list[str] | None,
            typer.Option("--tables", help=f"Tables to extract (repeatable): {', '.join(EXTRACTABLE)}."),
        ] = None,
        reset_watermarks: Annotated[
            bool, typer.Option("--reset-watermarks", help="Forget the watermarks first: re-extract the whole window.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
        policy: Annotated[Path | None, typer.Option("--policy", help="Policy YAML (default: ./crucible.yaml).")] = None,
    ) -> None:
        """Extract app rows in the window into Records on crucible.records.raw, incrementally
        (a watermark per table), and print the counts per table."""
        from crucible.common.cli_support import runtime_from_env
        from crucible.common.tracing import setup_tracing
        from crucible.extractor.extraction import resolve_source_url
        from crucible.extractor.service import ensure_demo_source, extract_hook
        from crucible.extractor.source import database_label
        from crucible.extractor.watermarks import reset_watermarks as reset

        selected = [t for item in tables or [] for t in item.split(",") if t]
        unknown = [t for t in selected if t not in EXTRACTABLE]
        if unknown:
            typer.echo(f"unknown table(s) {unknown}; extractable: {', '.join(EXTRACTABLE)}", err=True)
            raise typer.Exit(2)
        runtime = runtime_from_env(policy)
        setup_tracing("extractor")
        ensure_demo_source(runtime, source)
        url = resolve_source_url(runtime, source)
        if reset_watermarks:
            n = reset(runtime.registry, database_label(url), selected or None)
            typer.echo(f"reset {n} watermark(s)", err=True)
        report = asyncio.run(extract_hook(runtime, days, min_quality, tables=selected or None, source=url))
        if as_json:
            typer.echo(json.dumps(report, indent=2))
        else:
            _print_report(report)
        if report["errors"]:
            sys.exit(1)
