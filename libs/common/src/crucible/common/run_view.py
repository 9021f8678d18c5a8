"""What `crucible run` shows a person: the steps as they happen, live per-stage counts while
the pipeline drains, and the final table with where the results are."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from crucible.common.pipeline import stage_rows
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
        self.console.print(f"bus: {s.nats_url or 'embedded nats-server'}   registry: {s.resolved_database_url()}")
        self.console.print(
            f"source: {s.source_url or 'demo app database (generated)'}   policy: {self.runtime.policy.source}"
        )

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
        self.console.print(f"[red]run failed:[/red] {type(exc).__name__}: {exc}")
        self.console.print(f"partial summary: {self.runtime.run_dir() / 'summary.json'}")

    def final(self, summary: dict[str, Any]) -> None:
        self._stop_live()
        self.console.print(stage_table(stage_rows(summary)))
        for name, details in (summary.get("details") or {}).items():
            self.console.print(f"[bold]{name}[/bold]: {json.dumps(details, default=str)[:2000]}")
        for name, result in (summary.get("control_plane") or {}).items():
            shown = {k: v for k, v in result.items() if k != "trace"} if isinstance(result, dict) else result
            self.console.print(f"[bold]{name}[/bold]: {json.dumps(shown, default=str)[:2000]}")
        gateway = (summary.get("control_plane") or {}).get("gateway")
        if isinstance(gateway, dict) and "delivery" in gateway:
            for line in rollout_lines(gateway):
                self.console.print(line, soft_wrap=True)
        for line in round_lines(summary.get("rounds") or {}):
            self.console.print(line, soft_wrap=True)
        colour = "green" if summary.get("status") == "succeeded" else "red"
        self.console.print(f"[{colour}]status: {summary.get('status')}[/{colour}] in {summary.get('seconds')} s")
        self.console.print(f"summary: {summary.get('summary_path')}")
        self.console.print(f"artifacts: {self.runtime.settings.resolved_artifacts_url()}")


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
