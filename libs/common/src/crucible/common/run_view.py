"""What `crucible run` shows a person: the steps as they happen, live per-stage counts while
the pipeline drains, and the final table with where the results are."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from crucible.common.pipeline import stage_rows
from crucible.common.redaction import redact_text, redact_url
from crucible.common.runtime import Runtime


def _fmt_counts(counts: dict[str, int] | int) -> str:
    if isinstance(counts, int):
        return str(counts)
    if not counts:
        return "0"
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))


def stage_table(rows: list[dict[str, Any]], title: str = "records per stage") -> Table:
    table = Table(title=title)
    for col in ("stage", "in", "out", "rejected (reason=count)", "held for review", "DLQ"):
        table.add_column(col, justify="right" if col in ("in", "out") else "left")
    for row in rows:
        table.add_row(
            row["stage"],
            str(row.get("in", 0)),
            str(row.get("out", 0)),
            _fmt_counts(row.get("rejected", {})),
            _fmt_counts(row.get("held", {})),
            _fmt_counts(row.get("dlq", {})),
        )
    return table


class RunView:
    def __init__(self, runtime: Runtime, console: Console | None = None) -> None:
        self.runtime = runtime
        self.console = console or Console()
        self._live: Live | None = None

    def header(self) -> None:
        s = self.runtime.settings
        self.console.rule(f"crucible run {self.runtime.run_id}")
        self.console.print(f"home: {s.home.resolve()}")
        bus, registry = redact_url(s.nats_url or "embedded nats-server"), redact_url(s.resolved_database_url())
        self.console.print(f"bus: {bus}   registry: {registry}")
        source = redact_url(s.source_url or "demo app database (generated)")
        self.console.print(f"source: {source}   policy: {self.runtime.policy.source}")

    def progress(self, step: str, data: dict[str, Any]) -> None:
        if step == "stages":
            rows = list(data.values())
            table = stage_table(rows, title="draining the pipeline…")
            if self._live is None:
                self._live = Live(table, console=self.console, refresh_per_second=4, transient=True)
                self._live.start()
            else:
                self._live.update(table)
            return
        self._stop_live()
        detail = ", ".join(f"{k}={v}" for k, v in data.items())
        self.console.print(f"[bold]→ {step}[/bold] {detail}")

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def failed(self, exc: BaseException) -> None:
        self._stop_live()
        self.console.print(f"[red]run failed:[/red] {type(exc).__name__}: {redact_text(str(exc))}")
        self.console.print(f"partial summary: {self.runtime.run_dir() / 'summary.json'}")

    def final(self, summary: dict[str, Any]) -> None:
        self._stop_live()
        self.console.print(stage_table(stage_rows(summary)))
        for name, details in (summary.get("details") or {}).items():
            self.console.print(f"[bold]{name}[/bold]: {json.dumps(details, default=str)[:2000]}")
        for name, result in (summary.get("control_plane") or {}).items():
            shown = {k: v for k, v in result.items() if k != "trace"} if isinstance(result, dict) else result
            self.console.print(f"[bold]{name}[/bold]: {json.dumps(shown, default=str)[:2000]}")
        synth = (summary.get("control_plane") or {}).get("synthesizer")
        if isinstance(synth, dict) and "deficits_before" in synth:
            after = (summary.get("control_plane") or {}).get("dataset_after_synthesizer")
            for line in synthesis_lines(synth, after if isinstance(after, dict) else None):
                self.console.print(line, soft_wrap=True)
        gateway = (summary.get("control_plane") or {}).get("gateway")
        if isinstance(gateway, dict) and "delivery" in gateway:
            for line in rollout_lines(gateway):
                self.console.print(line, soft_wrap=True)
        colour = "green" if summary.get("status") == "succeeded" else "red"
        self.console.print(f"[{colour}]status: {summary.get('status')}[/{colour}] in {summary.get('seconds')} s")
        self.console.print(f"summary: {summary.get('summary_path')}")
        self.console.print(f"artifacts: {redact_url(self.runtime.settings.resolved_artifacts_url())}")


def synthesis_lines(result: dict[str, Any], rebuilt: dict[str, Any] | None) -> list[str]:
    """What the synthesis step made of the version's deficits, in a few plain lines."""
    lines = [f"synthesis: category deficits before {json.dumps(result.get('deficits_before', {}))}"]
    if "skipped" in result:
        return [*lines, f"synthesis skipped: {result['skipped']}"]
    gen, adm = result.get("generation") or {}, result.get("admission") or {}
    lines.append(
        f"synthesis: {gen.get('generated', 0)} of {gen.get('items', 0)} conversations generated "
        f"(refused at generation: {json.dumps(gen.get('rejected', {}))}); validation refused "
        f"{json.dumps(adm.get('rejected', {}))}; {adm.get('status', '')}, {result.get('published', 0)} published"
    )
    if rebuilt is not None and "deficits" in rebuilt:
        lines.append(
            f"synthesis: rebuilt {rebuilt.get('dataset_version')}: deficits after {json.dumps(rebuilt['deficits'])}"
        )
    return lines


def rollout_lines(result: dict[str, Any]) -> list[str]:
    """The model-delivery story of a run's rollout step, in a few plain lines."""
    d = result.get("delivery") or {}
    lines = []
    if d.get("verified"):
        where = ", ".join(d.get("endpoints") or []) or d.get("server", "")
        lines.append(
            f"delivered {d.get('model')} into the running server by {d.get('method')}: {where} "
            f"({d.get('seconds', 0):.2f} s, answered a test request)"
        )
    else:
        lines.append(f"delivery of {result.get('candidate_model')}: not delivered")
    actions = [str(x.get("action")) for x in result.get("decisions") or []]
    last = (result.get("decisions") or [{}])[-1].get("reason", "")
    lines.append(f"rollout {result.get('rollout_id')}: {result.get('state')} ({' -> '.join(actions)}): {last}")
    models = ", ".join(f"{m['name']} {m['status']}" for m in result.get("models") or [])
    if models:
        lines.append(f"models (crucible models list): {models}")
    return lines
