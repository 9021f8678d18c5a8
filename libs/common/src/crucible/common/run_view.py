"""What `crucible run` shows a person: the steps as they happen, live per-stage counts while
the pipeline drains, and the final tables with where the results are.

Nothing is cut: every figure of the summary is a row of the results table. Locations (URIs,
paths) are never put in a table cell, where they would wrap mid-way: they are printed as
plain lines that the terminal may soft-wrap, so a copied URI is whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from crucible.common.redaction import redact_text, redact_url
from crucible.common.run_figures import stage_rows
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


def _is_location(text: str) -> bool:
    return "://" in text or (text.startswith("/") and " " not in text)


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _flatten(key: str, value: Any) -> Iterator[tuple[str, str]]:
    """(dotted key, text) for every leaf; a list of short scalars is one row, else a row per item."""
    if isinstance(value, dict):
        if not value:
            yield key, "-"
        for k, v in value.items():
            yield from _flatten(f"{key}.{k}" if key else str(k), v)
    elif isinstance(value, list | tuple):
        if not value:
            yield key, "-"
        elif all(not isinstance(v, dict | list | tuple) for v in value) and sum(len(_scalar(v)) for v in value) <= 60:
            yield key, ", ".join(_scalar(v) for v in value)
        else:
            for i, v in enumerate(value, start=1):
                yield from _flatten(f"{key}.{i}", v)
    else:
        yield key, _scalar(value)


def summary_rows(summary: dict[str, Any]) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Pure: the results table's rows (step, figure, value) and the locations (label, where), from
    every step's details and control-plane result (a trace is left in summary.json)."""
    rows: list[tuple[str, str, str]] = []
    locations: list[tuple[str, str]] = []
    steps = {**(summary.get("details") or {}), **(summary.get("control_plane") or {})}
    for step, result in steps.items():
        shown = {k: v for k, v in result.items() if k != "trace"} if isinstance(result, dict) else result
        for key, text in _flatten("", shown):
            if _is_location(key) or _is_location(text):
                locations.append((f"{step} {key}".strip(), text))
            else:
                rows.append((step, key, text))
    return rows, locations


def results_table(rows: list[tuple[str, str, str]]) -> Table:
    table = Table(title="results per step")
    table.add_column("step", no_wrap=True)
    table.add_column("figure", overflow="fold")
    table.add_column("value", overflow="fold")
    previous = None
    for step, key, value in rows:
        table.add_row(step if step != previous else "", key, value)
        previous = step
    return table


class RunView:
    def __init__(self, runtime: Runtime, console: Console | None = None) -> None:
        self.runtime = runtime
        self.console = console or Console()
        self._live: Live | None = None
        self._status: Any = None

    def _line(self, text: str) -> None:
        # soft_wrap: never broken by rich, so a path or URI on it stays whole; a password in a URL
        # (a source or registry URL in a watermark key, say) is masked.
        self.console.print(redact_text(text), soft_wrap=True, markup=False, highlight=False)

    def header(self) -> None:
        s = self.runtime.settings
        self.console.rule(f"crucible run {self.runtime.run_id}")
        self._line(f"home: {s.home.resolve()}")
        bus, registry = redact_url(s.nats_url or "embedded nats-server"), redact_url(s.resolved_database_url())
        self._line(f"bus: {bus}   registry: {registry}")
        source = redact_url(s.source_url or "demo app database (generated)")
        self._line(f"source: {source}   policy: {self.runtime.policy.source}")
        if self.console.is_terminal:
            # Starting the stage workers can take a minute the first time (the scorer trains its models).
            self._status = self.console.status("starting the services…")
            self._status.start()

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def progress(self, step: str, data: dict[str, Any]) -> None:
        self._stop_status()
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
        self._stop_status()
        if self._live is not None:
            self._live.stop()
            self._live = None

    def failed(self, exc: BaseException) -> None:
        self._stop_live()
        self.console.print(
            f"[red]run failed:[/red] {type(exc).__name__}: {redact_text(str(exc))}", soft_wrap=True, highlight=False
        )
        self._line(f"partial summary: {self.runtime.run_dir() / 'summary.json'}")

    def final(self, summary: dict[str, Any]) -> None:
        self._stop_live()
        self.console.print(stage_table(stage_rows(summary)))
        rows, locations = summary_rows(summary)
        if rows:
            self.console.print(results_table(rows))
        if locations:
            self.console.print("[bold]where the results are[/bold]")
            for label, where in locations:
                self._line(f"  {label}: {where}")
        synth = (summary.get("control_plane") or {}).get("synthesizer")
        if isinstance(synth, dict) and "deficits_before" in synth:
            after = (summary.get("control_plane") or {}).get("dataset_after_synthesizer")
            for line in synthesis_lines(synth, after if isinstance(after, dict) else None):
                self._line(line)
        gateway = (summary.get("control_plane") or {}).get("gateway")
        if isinstance(gateway, dict) and "delivery" in gateway:
            for line in rollout_lines(gateway):
                self._line(line)
        for line in round_lines(summary.get("rounds") or {}):
            self._line(line)
        colour = "green" if summary.get("status") == "succeeded" else "red"
        self.console.print(f"[{colour}]status: {summary.get('status')}[/{colour}] in {summary.get('seconds')} s")
        self._line(f"summary: {summary.get('summary_path')}")
        self._line(f"artifacts: {redact_url(self.runtime.settings.resolved_artifacts_url())}")


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


def round_lines(rounds: dict[str, Any]) -> list[str]:
    """The SFT round and the preference round in one line each."""

    def num(value: Any, fmt: str = ".3f") -> str:
        return format(value, fmt) if isinstance(value, int | float) else "-"

    def rated(r: dict[str, Any]) -> str:
        if not r:
            return "not evaluated"
        verdict = "passed" if r.get("passed") else "rejected"
        elo, win = num(r.get("elo_diff"), "+.0f"), num(r.get("win_rate"), ".2f")
        return f"vs {r.get('against')}: Elo {elo}, win rate {win}, {verdict}"

    lines = []
    loop = rounds.get("interactions")
    if loop:
        lines.append(
            f"interactions: {loop.get('published')} published to records.raw, {loop.get('scrubbed')} scrubbed, "
            f"{loop.get('kept')} kept for training; feedback stored: {loop.get('feedback_stored')}"
        )
    sft = rounds.get("sft")
    if sft:
        lines.append(
            f"SFT round: {sft['model']} eval loss {num(sft.get('eval_loss'))}; {rated(sft.get('rating') or {})}"
        )
    dpo = rounds.get("dpo")
    if dpo:
        if dpo.get("model"):
            lines.append(
                f"DPO round: {dpo.get('pairs')} pairs {dpo.get('pairs_by_source')} from {dpo.get('feedback_rows')} "
                f"rated answers -> {dpo['model']} DPO loss ({dpo.get('dpo_loss_on')}) "
                f"{num(dpo.get('dpo_loss_initial'))} -> {num(dpo.get('dpo_loss'))}, "
                f"reward margin {num(dpo.get('reward_margin'))}; {rated(dpo.get('rating') or {})}"
            )
        else:
            lines.append(f"DPO round: not run ({dpo.get('not_run')})")
    return lines
