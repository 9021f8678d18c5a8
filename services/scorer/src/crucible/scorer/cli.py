"""The scorer's commands: `crucible score`, `crucible scorer train|metrics`, `crucible review ...`."""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from crucible.common.cli_support import SummaryJsonOpt

scorer_app = typer.Typer(help="The scorer's models: train them, show their held-out figures.", no_args_is_help=True)
review_app = typer.Typer(help="The review queue: records held for a person (crisis labels, borderline scores).",
                         no_args_is_help=True)  # fmt: skip


def _runtime() -> Any:
    from crucible.common.cli_support import runtime_from_env

    return runtime_from_env()


def _policy(runtime: Any) -> Any:
    return runtime.policy.section("scorer")


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def score(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="[IN.jsonl]",
            help="JSON lines: the scrubber's output or {text, reply?, signals?}; - or none: stdin.",
            show_default=False,
        ),
    ] = Path("-"),
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the scored JSON lines; - or none: stdout.", show_default=False)
    ] = Path("-"),
    threshold: Annotated[
        float | None, typer.Option("--threshold", min=0, max=10, help="Override the policy threshold.")
    ] = None,
    as_json: SummaryJsonOpt = False,
) -> None:
    """Score JSON lines: adds `quality` (total and breakdown), `category` and `safety` to every line."""
    from crucible.common import jsonl_io
    from crucible.scorer.core import ScorerStage
    from crucible.scorer.models import load_models
    from crucible.scorer.offline import ScoreReport, score_lines

    jsonl_io.check_paths(input_path, out, as_json=as_json, in_name="IN.jsonl")
    runtime = _runtime()
    policy = _policy(runtime)
    if threshold is not None:
        policy = policy.model_copy(update={"threshold": threshold})
    models = load_models(runtime.artifacts, policy, progress=lambda m: typer.echo(m, err=True))
    stage = ScorerStage(policy, models)
    report = ScoreReport()
    with (
        jsonl_io.open_input(input_path) as src,
        jsonl_io.open_output(out) as dst,
        jsonl_io.progress("scoring", jsonl_io.input_size(input_path)) as advance,
    ):
        for line in score_lines(stage, jsonl_io.tracked(src, advance), report):
            dst.write(line + "\n")
    for number, why in report.bad_lines:
        typer.echo(f"{input_path}:{number}: skipped: {why}", err=True)
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())) or "none"
    summary = {"written": report.written, "outcomes": report.outcomes, "bad_lines": len(report.bad_lines),
               "threshold": policy.threshold, "out": str(out)}  # fmt: skip
    jsonl_io.emit_summary(
        summary,
        as_json=as_json,
        text=f"scored {report.written} line(s) -> {out} ({outcomes}); skipped {len(report.bad_lines)} bad line(s)",
    )
    if report.bad_lines:
        raise typer.Exit(1)


@scorer_app.command("train")
def train(
    force: Annotated[bool, typer.Option("--force", help="Retrain even if the models exist.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the held-out figures as JSON.")] = False,
) -> None:
    """Train the category and safety heads (focal loss) on the MiniLM encoder; store them as an artifact."""
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from crucible.scorer.models import forget_cached_models, models_present
    from crucible.scorer.training import train_models

    runtime = _runtime()
    policy = _policy(runtime)
    if models_present(runtime.artifacts, policy) and not force:
        typer.echo(f"models already at {runtime.artifacts.uri(policy.model_key)}; --force retrains", err=True)
        result = {
            "model_key": policy.model_key,
            "metrics": runtime.artifacts.read_json(f"{policy.model_key}/metrics.json"),
        }
    else:
        result = train_models(runtime.artifacts, policy, progress=lambda m: typer.echo(m, err=True))
        forget_cached_models()
    if as_json:
        _echo_json(result)
    else:
        typer.echo(_figures_text(result["metrics"]))


@scorer_app.command("search")
def search(
    trials: Annotated[int, typer.Option("--trials", help="Trials to run (the first is the policy in force).")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="The TPE sampler's seed: same seed, same trials.")] = 42,
    study: Annotated[
        str, typer.Option("--study", help="Study name in the registry database; default: scorer-heads-<UTC time>.")
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the study record as JSON.")] = False,
) -> None:
    """Search the safety head's training settings (scorer.safety_head: hidden size, learning rate, weight
    decay, dropout, epochs, focal-loss gamma) with Optuna: TPE with a fixed seed, a median pruner on the
    validation macro-F1 reported every 10 epochs. Trial 0 is the policy in force. The study is stored in the
    registry database and, with every trial, in the artifact store (scorer/search/<study>/study.json). The best
    trial is printed as a proposed diff of the policy; the policy file is never changed."""
    import datetime as dt
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from crucible.common.search import check_trials, search_runtime
    from crucible.scorer.search import run_search

    check_trials(trials)
    name = study or f"scorer-heads-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    runtime = search_runtime()
    record = run_search(
        runtime, _policy(runtime), trials=trials, seed=seed, study_name=name, progress=lambda m: typer.echo(m, err=True)
    )
    if as_json:
        _echo_json(record)
        return
    base, best = record["baseline"], record["best"]
    typer.echo(f"study {record['study']}: {record['states']}; stored at {record['artifact_uri']}")
    if base is not None and base["value"] is not None:
        typer.echo(f"policy in force (trial {base['number']}): validation macro-F1 {base['value']:.4f}")
    if best is not None:
        typer.echo(f"best (trial {best['number']}): validation macro-F1 {best['value']:.4f}")
    typer.echo(record["proposed_diff"] or "no change proposed: the policy in force is the best trial")


@scorer_app.command("metrics")
def metrics() -> None:
    """Print the held-out figures stored with the trained models."""
    runtime = _runtime()
    key = _policy(runtime).model_key
    if not runtime.artifacts.exists(f"{key}/metrics.json"):
        typer.echo(f"no scorer models at {runtime.artifacts.uri(key)}: run `crucible scorer train`", err=True)
        raise typer.Exit(1)
    _echo_json(runtime.artifacts.read_json(f"{key}/metrics.json"))


def _figures_text(m: dict[str, Any]) -> str:
    c, s = m["category"], m["safety"]
    lines = [
        f"category: accuracy {c['accuracy']:.3f}, macro-F1 {c['macro_f1']:.3f} on {c['n_test']} held-out examples",
        *(f"  {k:<26} F1 {v:.3f}" for k, v in c["per_class_f1"].items()),
        f"safety: macro-F1 {s['macro_f1']:.3f} on {s['n_test']} held-out examples; "
        f"review recall {s['review']['recall']:.3f}, false review rate {s['review']['false_review_rate']:.3f}",
        *(
            f"  {k:<26} recall {v:.3f} (with backstop {s['with_backstop']['per_class_recall'][k]:.3f})"
            for k, v in s["per_class_recall"].items()
        ),
        f"coherence: AUC {m['coherence']['auc']:.3f}; empathy lexicon: accuracy {m['empathy']['accuracy']:.3f}",
    ]
    if "ensemble" in m:  # the safety ensemble (v6): where it decides, and each member on the held-out rows
        e = m["ensemble"]
        lines.append(f"safety ensemble: decides {', '.join(e['ensemble_decides']) or 'nothing'} (the head the rest)")
        for name, f in e["held_out"].items():
            if isinstance(f, dict):
                brier = sum(f["brier"].values()) / len(f["brier"])
                lines.append(
                    f"  {name:<10} macro-F1 {f['macro_f1']:.3f}, crisis recall {f['crisis_recall']:.3f}, "
                    f"false alarms {f['false_alarm_rate']:.3f}, mean Brier {brier:.3f}"
                )
    return "\n".join(lines)


@review_app.command("list")
def review_list(
    status: Annotated[Literal["pending", "approved", "rejected", "all"], typer.Option("--status")] = "pending",
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List held records with why they were held."""
    from crucible.scorer.store import review_items

    items = review_items(_runtime().registry, status, limit)
    if as_json:
        _echo_json(items)
        return
    if not items:
        typer.echo(f"no {status} review items")
    for it in items:
        safety = ",".join(f"{k}:{v:.2f}" for k, v in sorted((it["safety"] or {}).items()))
        typer.echo(f"{it['record_id']}  {it['status']:<8} score {it['total']}/{it['threshold']}  "
                   f"why {','.join(it['why'])}  category {it['category']}  safety {safety}")  # fmt: skip


@review_app.command("show")
def review_show(record_id: Annotated[str, typer.Argument(help="The record id.")]) -> None:
    """Show one held record: its turns, score breakdown, labels and decision."""
    from crucible.scorer.store import review_item

    try:
        _echo_json(review_item(_runtime().registry, record_id))
    except LookupError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None


def _reviewer(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


@review_app.command("approve")
def review_approve(
    record_id: Annotated[str, typer.Argument(help="The record id.")],
    by: Annotated[str | None, typer.Option("--by", help="Who decided (default: login name).")] = None,
    note: Annotated[str, typer.Option("--note", help="Why.")] = "",
) -> None:
    """Approve a held record: publish it to crucible.records.scored and mark it approved."""
    from crucible.scorer.review import approve

    try:
        _echo_json(asyncio.run(approve(_runtime(), record_id, by=_reviewer(by), note=note)))
    except (LookupError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None


@review_app.command("reject")
def review_reject(
    record_id: Annotated[str, typer.Argument(help="The record id.")],
    by: Annotated[str | None, typer.Option("--by", help="Who decided (default: login name).")] = None,
    note: Annotated[str, typer.Option("--note", help="Why.")] = "",
) -> None:
    """Reject a held record: it stays in the registry for audit and is never published."""
    from crucible.scorer.review import reject

    try:
        _echo_json(reject(_runtime(), record_id, by=_reviewer(by), note=note))
    except (LookupError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None


def register_cli(app: typer.Typer) -> None:
    app.command("score")(score)
    app.add_typer(scorer_app, name="scorer")
    app.add_typer(review_app, name="review")
