"""`crucible dedup [IN.jsonl] [--out OUT.jsonl] [--json]`: cluster near-duplicates of JSON lines
offline (stdin/stdout by default), with the same definition, parameters and index rule as the stage."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from crucible.common.cli_support import SummaryJsonOpt


def policy_from_file(path: Path | None) -> Any:
    """Only the `dedup` section of the policy file, validated by the same model as the stage's
    (the offline command needs no other service's section, nor their plugins loaded)."""
    import yaml

    from crucible.common.config import ConfigError, validate_section
    from crucible.dedup.policy import DedupPolicy

    raw: dict[str, Any] = {}
    if path is not None:
        if not path.exists():
            raise ConfigError(f"policy file {path} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"policy file {path} must be a mapping of sections")
        raw = loaded.get("dedup") or {}
    return validate_section("dedup", DedupPolicy, raw)


def register(app: typer.Typer) -> None:
    app.command("dedup")(dedup_command)


def dedup_command(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="[IN.jsonl]", help='Lines {"id", "text"}, or Records as JSON; - or none: stdin.', show_default=False
        ),
    ] = Path("-"),
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output JSONL: the input lines, in order, plus cluster_id, duplicate_of, similarity; "
            "- or none: stdout.",
            show_default=False,
        ),
    ] = Path("-"),
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", min=0.0, max=1.0, help="Jaccard threshold (default: policy dedup.threshold)."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the duplicate report (clusters, pairs) here.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Records per vectorised batch.")] = 2048,
    as_json: SummaryJsonOpt = False,
) -> None:
    """Mark near-duplicates in a JSONL file (character 5-gram Jaccard >= threshold); bad lines are reported."""
    from crucible.common import jsonl_io
    from crucible.common.config import default_policy_path, load_settings
    from crucible.dedup.core import Preparer
    from crucible.dedup.memory_index import MemoryIndex
    from crucible.dedup.offline import BadLine, InputLine, output_object, parse_line
    from crucible.dedup.report import build_report, decision_row

    jsonl_io.check_paths(input_path, out, as_json=as_json, in_name="IN.jsonl")
    if report is not None:
        jsonl_io.check_paths(None, report)
    policy = policy_from_file(default_policy_path(load_settings()))
    if threshold is not None:
        from crucible.common.config import ConfigError, validate_section
        from crucible.dedup.policy import DedupPolicy

        try:
            policy = validate_section("dedup", DedupPolicy, {**policy.model_dump(), "threshold": threshold})
        except ConfigError as err:
            raise typer.BadParameter(str(err), param_hint="--threshold") from None
    params = policy.params()
    prep = Preparer(params)
    index = MemoryIndex(params)
    bad: list[tuple[int, str]] = []
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    started = time.perf_counter()
    total = 0

    def flush(pending: list[InputLine], sink: Any) -> None:
        decisions = index.assign(prep.prepare([p.record_id for p in pending], [p.text for p in pending]))
        for line, decision in zip(pending, decisions, strict=True):
            sink.write(json.dumps(output_object(line, decision), ensure_ascii=False) + "\n")
            if report is not None:
                rows.append(
                    decision_row(
                        line.record_id, decision.cluster_id, decision.duplicate_of, decision.similarity, decision.exact
                    )
                )

    duplicates = 0
    with (
        jsonl_io.open_input(input_path, errors="strict") as src,
        jsonl_io.open_output(out) as sink,
        jsonl_io.progress("dedup", jsonl_io.input_size(input_path)) as advance,
    ):
        pending: list[InputLine] = []
        number = 0
        while True:
            try:
                raw = src.readline()
            except UnicodeDecodeError as err:
                number += 1
                bad.append((number, f"not UTF-8 ({err.reason})"))
                break  # the rest of the stream cannot be read reliably
            if not raw:
                break
            advance(len(raw), 1)
            number += 1
            try:
                parsed = parse_line(number, raw)
            except BadLine as err:
                bad.append((number, str(err)))
                continue
            if parsed is None:
                continue
            if parsed.record_id in seen:
                bad.append((number, f"duplicate id {parsed.record_id!r}"))
                continue
            seen.add(parsed.record_id)
            pending.append(parsed)
            if len(pending) >= batch_size:
                flush(pending, sink)
                total += len(pending)
                pending = []
        if pending:
            flush(pending, sink)
            total += len(pending)
    duplicates = sum(1 for pos in range(len(index)) if index.decision(pos).duplicate_of)
    seconds = time.perf_counter() - started
    for number, reason in bad:
        typer.echo(f"{input_path}:{number}: {reason}", err=True)
    if report is not None:
        data = build_report(rows, threshold=params.threshold)
        report.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    summary = {
        "records": total,
        "duplicates": duplicates,
        "clusters": total - duplicates,
        "bad_lines": len(bad),
        "threshold": params.threshold,
        "bands": params.bands,
        "rows": params.rows,
        "seconds": round(seconds, 3),
        "out": str(out),
    }
    jsonl_io.emit_summary(
        summary,
        as_json=as_json,
        text=f"dedup: {total} record(s), {duplicates} duplicate(s) in {total - duplicates} cluster(s) at Jaccard "
        f">= {params.threshold} -> {out}; {len(bad)} bad line(s) in {summary['seconds']} s",
    )
    if bad:
        raise typer.Exit(1)
