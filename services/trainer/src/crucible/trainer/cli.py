"""`crucible models init-tiny PATH` and `crucible train` (with `--follow`, a live progress bar)."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from crucible.common.cli_support import runtime_from_env

models_app = typer.Typer(
    help="Model versions in the registry (list, show) and the tiny base model of the embedded default.",
    no_args_is_help=True,
)


@models_app.command("list")
def list_models(
    pool: Annotated[str | None, typer.Option("--pool", help="Only this serving pool.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only this lifecycle status.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of objects.")] = False,
) -> None:
    """Registered model versions: name, base, status, dataset version, created, metrics summary."""
    from crucible.common import lifecycle
    from crucible.common.model_view import list_models as rows_of

    if status is not None and status not in lifecycle.STATUSES:
        raise typer.BadParameter(f"{status!r} is not a status ({', '.join(lifecycle.STATUSES)})", param_hint="--status")
    runtime = runtime_from_env()
    rows = rows_of(runtime.registry, pool=pool, status=status)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, sort_keys=True, default=str))
        return
    if not rows:
        typer.echo("no models registered")
        return
    typer.echo(f"{'name':<44} {'status':<11} {'pool':<10} {'dataset':<22} {'created':<20} metrics")
    for r in rows:
        metrics = " ".join(f"{k}={v:.3g}" for k, v in r["metrics"].items())
        typer.echo(
            f"{r['name']:<44} {r['status']:<11} {r['pool']:<10} {r['dataset_version'] or '-':<22} "
            f"{r['created_at'][:19]:<20} {metrics or '-'}"
        )


@models_app.command("show")
def show_model(
    name: Annotated[str, typer.Argument(help="Model version name (see `crucible models list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One model's lineage: dataset version and size, evaluation, rollout decisions, status history."""
    from crucible.common.model_view import show_model as detail_of

    runtime = runtime_from_env()
    try:
        detail = detail_of(runtime.registry, name)
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(detail, indent=2, sort_keys=True, default=str))
        return
    ds = detail["dataset"]
    ev = detail["evaluation"]
    typer.echo(f"{detail['name']}: {detail['status']} (pool {detail['pool']}, base {detail['base_model']})")
    typer.echo(f"  dataset {ds['version'] or '-'}: {ds['records'] if ds['records'] is not None else '?'} records")
    if ev:
        verdict = "passed" if ev.get("passed") else "rejected"
        against = (ev.get("compared_with") or {}).get("name", "")
        typer.echo(
            f"  evaluation: {verdict}{f' against {against}' if against else ''}; report {ev.get('report_uri', '-')}"
        )
        for gate in ev.get("failed_gates") or []:
            typer.echo(f"    failed: {gate}")
    for rollout in detail["rollouts"]:
        typer.echo(f"  rollout {rollout.get('rollout_id')}: {rollout.get('state')}")
        for d in rollout.get("decisions") or []:
            typer.echo(
                f"    {d.get('at')}  stage {int(d.get('stage_index', 0)) + 1}  {d.get('action'):<9} {d.get('reason')}"
            )
    typer.echo("  history:")
    for h in detail["history"]:
        typer.echo(f"    {h['at'][:19]}  {h['from'] or '-':>11} -> {h['to']:<11} by {h['actor']}: {h['reason']}")


@models_app.command("init-tiny")
def init_tiny(
    path: Annotated[Path, typer.Argument(help="Folder to save the tokenizer and model in.")],
    corpus: Annotated[
        Path | None,
        typer.Option(help="Text file (one text per line) or chat JSONL to train on; default: built-in coaching text."),
    ] = None,
    steps: Annotated[int, typer.Option(min=1, max=100_000, help="Pre-training steps.")] = 200,
    vocab_size: Annotated[int, typer.Option(min=300, max=65_536)] = 2000,
) -> None:
    """Train a byte-level BPE tokenizer and a small LlamaForCausalLM, pre-train briefly, save_pretrained."""
    from crucible.trainer.hf_training import configure_threads
    from crucible.trainer.tiny import TinySpec, build_tiny_model, tiny_corpus

    configure_threads()
    texts, chats = tiny_corpus(corpus)
    info = build_tiny_model(path, texts, TinySpec(pretrain_steps=steps, vocab_size=vocab_size), chats=chats)
    typer.echo(json.dumps(info, indent=2))


def train(
    dataset_version: Annotated[str, typer.Option("--dataset-version", "-d", help="Dataset version to train on.")] = "",
    train_file: Annotated[Path | None, typer.Option("--train-file", help="Chat JSONL train split.")] = None,
    val_file: Annotated[Path | None, typer.Option("--val-file", help="Chat JSONL validation split.")] = None,
    base_model: Annotated[str, typer.Option("--base-model", help="HF id or path; default: policy.")] = "",
    job_id: Annotated[str, typer.Option("--job-id", help="Resume this job (same id) from its checkpoint.")] = "",
    deepspeed: Annotated[str, typer.Option("--deepspeed", help="zero2 or zero3 (default: policy).")] = "",
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="sft (chat examples) or dpo (preference pairs: a preference dataset version, or pairs JSONL "
            "files); default: policy training.method.",
        ),
    ] = "",
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Policy override for this job, KEY=VALUE (repeatable).")
    ] = None,
    submit: Annotated[
        bool, typer.Option("--submit", help="Publish train.requested for `crucible serve trainer` instead.")
    ] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Show a live progress bar with the loss.")] = False,
    search: Annotated[
        int | None,
        typer.Option(
            "--search",
            metavar="N",
            help="Instead of one job: N Optuna trials over lora_r, lora_alpha, lora_dropout, learning_rate and "
            "epochs (TPE, fixed seed; median pruner on validation loss), trial 0 the policy in force. Each trial is "
            "a short job (fresh LoRA, no model registered). The study goes to the registry database and the "
            "artifact store; the best trial is printed as a proposed diff of the policy, which is never changed.",
        ),
    ] = None,
    search_seed: Annotated[int, typer.Option("--search-seed", help="--search: the sampler's seed.")] = 42,
    study: Annotated[str, typer.Option("--study", help="--search: study name; default: train-lora-<UTC time>.")] = "",
    trial_steps: Annotated[
        int,
        typer.Option(
            "--trial-steps",
            min=0,
            help="--search: optimizer steps per trial (epochs then not searched); 0: each trial's epochs decide.",
        ),
    ] = 0,
    eval_every: Annotated[
        int, typer.Option("--eval-every", min=1, help="--search: evaluate (and report to the pruner) every N steps.")
    ] = 5,
) -> None:
    """Fine-tune the base model with LoRA on a dataset version (or a train/val chat JSONL pair); with
    `--method dpo`, preference-train it on a preference dataset version (or train/val pairs JSONL); with
    `--search N`, search the LoRA settings in N short trial jobs and print the best as a policy diff."""
    from crucible.trainer.request import TrainRequest
    from crucible.trainer.service import new_job_id

    if search is not None:
        from crucible.common.search import check_trials

        check_trials(search)
        if submit or job_id or deepspeed or method == "dpo":
            raise typer.BadParameter("--search runs local SFT trials: not with --submit, --job-id, --deepspeed, dpo")
    if not dataset_version and not (train_file and val_file):
        raise typer.BadParameter("give --dataset-version, or both --train-file and --val-file")
    if method and method not in ("sft", "dpo"):
        raise typer.BadParameter("--method must be sft or dpo")
    if deepspeed and deepspeed not in ("zero2", "zero3"):
        raise typer.BadParameter("--deepspeed must be zero2 or zero3")
    sets = {}
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--set {item!r}: expected KEY=VALUE")
        sets[key.strip()] = value
    request = TrainRequest(
        job_id=job_id or new_job_id(),
        dataset_version=dataset_version,
        train_file=train_file,
        val_file=val_file,
        base_model=base_model,
        overrides=sets,
        deepspeed=deepspeed,
        method=method,
    )
    if submit and (train_file or val_file):
        raise typer.BadParameter("--submit trains a registered dataset version; local files need a local run")
    if search is not None:
        _search(request, search, search_seed, study, trial_steps, eval_every)
        return
    result = asyncio.run(_submit(request, follow) if submit else _run_local(request, follow))
    typer.echo(json.dumps(result, indent=2, default=str))
    if result.get("status") == "failed":
        raise typer.Exit(1)


def _search(request: Any, trials: int, seed: int, study: str, trial_steps: int, eval_every: int) -> None:
    import datetime as dt

    from crucible.common.search import search_runtime
    from crucible.trainer.search import run_search

    runtime = search_runtime()
    name = study or f"train-lora-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    record = run_search(
        runtime,
        request,
        trials=trials,
        seed=seed,
        study_name=name,
        steps=trial_steps,
        eval_every=eval_every,
        progress=lambda m: typer.echo(m, err=True),
    )
    base, best = record["baseline"], record["best"]
    typer.echo(
        f"study {record['study']}: {record['states']} in {record['wall_seconds']} s; stored at {record['artifact_uri']}"
    )
    if base is not None and base["value"] is not None:
        typer.echo(f"policy in force (trial {base['number']}): validation loss {base['value']:.4f}")
    if best is not None:
        typer.echo(f"best (trial {best['number']}): validation loss {best['value']:.4f}")
    typer.echo(record["proposed_diff"] or "no change proposed: the policy in force is the best trial")


async def _run_local(request: Any, follow: bool) -> dict[str, Any]:
    from crucible.common.embedded import connected_bus
    from crucible.trainer.service import run_training

    runtime = runtime_from_env()
    async with connected_bus(runtime):
        with ProgressView(request.job_id, enabled=follow) as view:
            outcome = await run_training(runtime, request, on_event=view.on_event)
    return outcome.as_dict()


async def _submit(request: Any, follow: bool) -> dict[str, Any]:
    from crucible.common import subjects
    from crucible.common.embedded import connected_bus
    from crucible.v1 import events_pb2

    runtime = runtime_from_env()
    msg = events_pb2.TrainRequested(
        job_id=request.job_id,
        dataset_version=request.dataset_version,
        base_model=request.base_model,
        overrides={k: str(v) for k, v in request.overrides.items()},
        deepspeed=bool(request.deepspeed),
    )
    if request.deepspeed:
        msg.overrides["deepspeed"] = request.deepspeed
    if request.method:  # the `training` section's key, carried in the overrides map
        msg.overrides["training.method"] = request.method
    msg.requested_at.GetCurrentTime()
    async with connected_bus(runtime) as bus:
        done = asyncio.get_running_loop().create_future()
        with ProgressView(request.job_id, enabled=follow) as view:

            async def on_msg(m: Any) -> None:
                name = m.subject.removeprefix(subjects.event(""))
                if name == subjects.TRAIN_PROGRESS:
                    view.on_event(name, events_pb2.TrainProgress.FromString(m.data))
                elif name == subjects.MODEL_TRAINED:
                    trained = events_pb2.ModelTrained.FromString(m.data)
                    if trained.job_id == request.job_id and not done.done():
                        done.set_result(trained)

            # Plain subscriptions see the events live; JetStream keeps them for the audit log.
            subs = [await bus.nc.subscribe(subjects.event(n), cb=on_msg) for n in ("train.progress", "model.trained")]
            await bus.publish_event(subjects.TRAIN_REQUESTED, msg, msg_id=f"train-requested:{request.job_id}")
            if not follow:
                for s in subs:
                    await s.unsubscribe()
                return {"job_id": request.job_id, "status": "submitted"}
            trained = await done
            for s in subs:
                await s.unsubscribe()
    return {
        "job_id": trained.job_id,
        "status": trained.status,
        "model_name": trained.model_name,
        "reason": trained.reason,
        "adapter_uri": trained.adapter_uri,
        "metrics": dict(trained.metrics),
    }


class ProgressView:
    """A rich progress bar fed by train.progress events of one job."""

    def __init__(self, job_id: str, *, enabled: bool) -> None:
        self.job_id = job_id
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressView:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}  eval {task.fields[eval]}  {task.fields[tps]} tok/s"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.job_id, total=None, loss="-", eval="-", tps="-")
        return self

    def on_event(self, name: str, msg: Any) -> None:
        from crucible.v1 import events_pb2

        if not self.enabled or not isinstance(msg, events_pb2.TrainProgress) or msg.job_id != self.job_id:
            return
        self._progress.update(
            self._task,
            completed=msg.step,
            total=msg.total_steps or None,
            loss=f"{msg.loss:.4f}",
            eval="-" if math.isnan(msg.eval_loss) else f"{msg.eval_loss:.4f}",
            tps=f"{msg.tokens_per_second:,.0f}",
        )

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
    app.command("train")(train)
