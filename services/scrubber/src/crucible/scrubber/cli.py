"""The scrubber's commands on the `crucible` CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def scrub(
    input_path: Annotated[
        Path, typer.Argument(metavar="IN.jsonl", help="JSON lines with `text` (+ `known_entities`).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the scrubbed JSON lines.")],
) -> None:
    """Scrub PII from a JSON-lines file: adds `scrubbed_text` and `spans` to every line."""
    from crucible.scrubber.detect import Detector
    from crucible.scrubber.jsonl import ScrubReport, scrub_lines

    if not input_path.exists():
        typer.echo(f"error: {input_path} does not exist", err=True)
        raise typer.Exit(2)
    detector = Detector.create()
    report = ScrubReport()
    tmp = out.with_name(out.name + ".partial")
    with input_path.open(encoding="utf-8", errors="replace") as src, tmp.open("w", encoding="utf-8") as dst:
        for line in scrub_lines(detector, src, report):
            dst.write(line + "\n")
    tmp.replace(out)
    for number, why in report.bad_lines:
        typer.echo(f"{input_path}:{number}: skipped: {why}", err=True)
    typer.echo(f"scrubbed {report.written} line(s) -> {out}; skipped {len(report.bad_lines)} bad line(s)", err=True)
    if report.bad_lines:
        raise typer.Exit(1)


def register_cli(app: typer.Typer) -> None:
    app.command("scrub")(scrub)
