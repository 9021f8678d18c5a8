"""The scrubber's commands on the `crucible` CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crucible.common.cli_support import SummaryJsonOpt


def scrub(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="[IN.jsonl]",
            help="JSON lines with `text` (+ `known_entities`); - or none: stdin.",
            show_default=False,
        ),
    ] = Path("-"),
    out: Annotated[
        Path,
        typer.Option("--out", help="Where to write the scrubbed JSON lines; - or none: stdout.", show_default=False),
    ] = Path("-"),
    as_json: SummaryJsonOpt = False,
) -> None:
    """Scrub PII from JSON lines: adds `scrubbed_text` and `spans` to every line."""
    from crucible.common import jsonl_io
    from crucible.scrubber.detect import Detector
    from crucible.scrubber.jsonl import ScrubReport, scrub_lines

    jsonl_io.check_paths(input_path, out, as_json=as_json, in_name="IN.jsonl")
    detector = Detector.create()
    report = ScrubReport()
    with (
        jsonl_io.open_input(input_path) as src,
        jsonl_io.open_output(out) as dst,
        jsonl_io.progress("scrubbing", jsonl_io.input_size(input_path)) as advance,
    ):
        for line in scrub_lines(detector, jsonl_io.tracked(src, advance), report):
            dst.write(line + "\n")
    for number, why in report.bad_lines:
        typer.echo(f"{input_path}:{number}: skipped: {why}", err=True)
    summary = {"written": report.written, "bad_lines": len(report.bad_lines), "out": str(out)}
    jsonl_io.emit_summary(
        summary,
        as_json=as_json,
        text=f"scrubbed {report.written} line(s) -> {out}; skipped {len(report.bad_lines)} bad line(s)",
    )
    if report.bad_lines:
        raise typer.Exit(1)


def register_cli(app: typer.Typer) -> None:
    app.command("scrub")(scrub)
