"""`crucible run`: the whole job on the embedded defaults (or on whatever is configured).

1. start (or connect to) NATS, migrate the registry, record the run;
2. start a stage worker for every installed data-plane service;
3. generate the demo app database when no source is configured, and extract from it;
4. wait until every stage's consumer is drained (nothing pending, nothing un-acked);
5. drive the control-plane steps of the installed services in order — dataset build,
   synthesis, training, evaluation, rollout — through their `hooks` (the same functions their
   `serve` loops call on events); when synthesis publishes records, the stages run again until
   drained and the dataset is built again, so training sees the version with them;
   then, once the rollout's traffic has been rated, the preference round: preference pairs, DPO
   training, evaluation against the serving model;
6. print a table of counts per stage and write `$CRUCIBLE_HOME/runs/<run_id>/summary.json`.

Stages that are not installed are simply absent from the summary: nothing is faked.

About 420 lines on purpose: the steps, what each hands the next (`Carried`) and the loop that
runs them, the second pass through the stages included, are one orchestration read top to
bottom; what the summary says from the results is `run_figures.py`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from crucible.common.embedded import nats_url_for
from crucible.common.redaction import redact, redact_url
from crucible.common.registry import Run
from crucible.common.run_figures import rounds
from crucible.common.runtime import Runtime
from crucible.common.services import ServiceSpec, discover_services
from crucible.common.serving import run_services
from crucible.common.worker import StageWorker

log = logging.getLogger(__name__)

Progress = Callable[[str, dict[str, Any]], None]


# What the control-plane steps hand each other, typed: each is read once from the JSON-able
# summary its hook returns (which goes into the run summary as it is).
@dataclass(frozen=True)
class DatasetBuilt:
    dataset_version: str
    withheld: str = ""  # why the version is not for training (the fairness gate), or ""


@dataclass(frozen=True)
class ModelTrained:
    model_name: str


@dataclass(frozen=True)
class ModelEvaluated:
    model_name: str
    passed: bool


@dataclass
class Carried:
    """The results so far; a step that has not run (or not been asked for) leaves its None."""

    dataset: DatasetBuilt | None = None
    model: ModelTrained | None = None
    evaluation: ModelEvaluated | None = None
    base_model: str = ""  # a local folder a server can load (the trainer's base), once asked for
    # The preference round. `rated` is the rollout's rated traffic (the seam until the gateway
    # publishes interactions and stores feedback: then the dataset service reads those itself).
    rated: list[dict[str, Any]] | None = None
    preferences: DatasetBuilt | None = None
    dpo_model: ModelTrained | None = None


def _build_args(carried: Carried) -> tuple[Any, ...] | str:
    return ()


def _synthesize_args(carried: Carried) -> tuple[Any, ...] | str:
    if carried.dataset is None:
        return "no dataset version was built"
    return (carried.dataset.dataset_version, carried.base_model)


def _carry_base(carried: Carried, result: dict[str, Any]) -> None:
    carried.base_model = str(result.get("path", ""))


def _train_args(carried: Carried) -> tuple[Any, ...] | str:
    if carried.dataset is None:
        return "no dataset version was built"
    return carried.dataset.withheld or (carried.dataset.dataset_version,)


def _evaluate_args(carried: Carried) -> tuple[Any, ...] | str:
    return (carried.model.model_name,) if carried.model else "no model was trained"


def _rollout_args(carried: Carried) -> tuple[Any, ...] | str:
    if carried.model is None:
        return "no model was trained"
    if carried.evaluation is not None and not carried.evaluation.passed:
        return "the evaluation gate did not pass"
    return (carried.model.model_name,)


def _preferences_args(carried: Carried) -> tuple[Any, ...] | str:
    if not carried.rated:
        return "no rated traffic from a rollout"
    return (carried.rated,)


def _dpo_args(carried: Carried) -> tuple[Any, ...] | str:
    return (carried.preferences.dataset_version,) if carried.preferences else "no preference dataset was built"


def _dpo_evaluate_args(carried: Carried) -> tuple[Any, ...] | str:
    return (carried.dpo_model.model_name,) if carried.dpo_model else "no DPO model was trained"


def _carry_rated(carried: Carried, result: dict[str, Any]) -> None:
    rated = result.get("rated_exchanges")
    carried.rated = list(rated) if rated else None


def _carry_preferences(carried: Carried, result: dict[str, Any]) -> None:
    if result.get("dataset_version"):
        carried.preferences = DatasetBuilt(str(result["dataset_version"]))


def _carry_dpo(carried: Carried, result: dict[str, Any]) -> None:
    if result.get("model_name"):
        carried.dpo_model = ModelTrained(str(result["model_name"]))


def _carry_dataset(carried: Carried, result: dict[str, Any]) -> None:
    if result.get("dataset_version"):
        carried.dataset = DatasetBuilt(str(result["dataset_version"]), str(result.get("withheld") or ""))


def _carry_model(carried: Carried, result: dict[str, Any]) -> None:
    if result.get("model_name"):
        carried.model = ModelTrained(str(result["model_name"]))


def _carry_evaluation(carried: Carried, result: dict[str, Any]) -> None:
    if "passed" in result:
        carried.evaluation = ModelEvaluated(str(result.get("model_name", "")), bool(result["passed"]))


def _carry_nothing(carried: Carried, result: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class ControlStep:
    """One control-plane step: a service's hook, its arguments from what earlier steps carried
    (or the reason it is skipped), and what its result carries to the next."""

    service: str
    hook: str
    arguments: Callable[[Carried], tuple[Any, ...] | str]
    carry: Callable[[Carried, dict[str, Any]], None]
    key: str = ""  # its entry in the summary (default: the service's name)
    serves: str = ""  # runs only for this later step (when that service is installed and asked for)
    # The result key counting records the step published to crucible.records.raw: when above 0 the
    # stages run again until drained and the dataset is rebuilt (synthesis; the rollout's interactions).
    feeds_stages: str = ""
    handover: tuple[str, ...] = ()  # result keys carried to later steps but left out of the summary

    @property
    def name(self) -> str:
        return self.key or self.service


# After the data plane drains, in this order.
CONTROL_STEPS: tuple[ControlStep, ...] = (
    ControlStep("dataset", "build", _build_args, _carry_dataset),
    ControlStep("trainer", "base_model", lambda _: (), _carry_base, key="base_model", serves="synthesizer"),
    ControlStep("synthesizer", "synthesize", _synthesize_args, _carry_nothing, feeds_stages="published"),
    ControlStep("trainer", "train", _train_args, _carry_model),
    ControlStep("evaluator", "evaluate", _evaluate_args, _carry_evaluation),
    ControlStep(
        "gateway",
        "rollout",
        _rollout_args,
        _carry_rated,
        handover=("rated_exchanges",),
        feeds_stages="interactions_published",
    ),
    # The preference round, on what the rollout's users said.
    ControlStep("dataset", "preferences", _preferences_args, _carry_preferences, key="preferences"),
    ControlStep("trainer", "train_dpo", _dpo_args, _carry_dpo, key="dpo"),
    ControlStep("evaluator", "evaluate", _dpo_evaluate_args, _carry_nothing, key="dpo_evaluation"),
)


async def call_hook(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def wait_drained(
    runtime: Runtime,
    workers: list[StageWorker],
    *,
    progress: Progress | None = None,
    idle_checks: int = 3,
    poll: float = 0.5,
    timeout: float = 3600.0,
) -> None:
    """Return when every worker's consumer has nothing pending or un-acked and no worker is
    busy, `idle_checks` polls in a row (a record in flight between two stages is pending on
    the next consumer, so a quiet pipeline really is drained)."""
    bus = runtime.require_bus()
    quiet = 0
    deadline = time.monotonic() + timeout
    while quiet < idle_checks:
        if time.monotonic() > deadline:
            raise TimeoutError(f"pipeline not drained after {timeout:.0f}s")
        await asyncio.sleep(poll)
        busy = False
        for w in workers:
            try:
                pending, unacked = await bus.consumer_pending(w.stream, w.durable)
            except Exception:  # consumer not created yet
                pending, unacked = 1, 0
            if pending or unacked or w.busy:
                busy = True
        quiet = 0 if busy else quiet + 1
        if progress is not None:
            progress("stages", {w.stage.name: w.stats.as_dict() for w in workers})


async def run_pipeline(
    runtime: Runtime,
    *,
    users: int = 200,
    seed: int = 7,
    days: int | None = None,
    min_quality: float | None = None,
    steps: list[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the whole job once and return the summary (also written to the run folder)."""
    specs = discover_services()
    days = days if days is not None else runtime.policy.extraction.days
    min_quality = min_quality if min_quality is not None else runtime.policy.extraction.min_quality
    started = time.monotonic()
    summary: dict[str, Any] = {
        "run_id": runtime.run_id,
        "started_at": dt.datetime.now(dt.UTC).isoformat(),
        "services": {name: spec.version for name, spec in specs.items()},
        "policy_source": runtime.policy.source,
        "status": "running",
    }
    with runtime.registry.session() as s:
        s.add(Run(run_id=runtime.run_id, status="running"))

    def note(step: str, data: dict[str, Any]) -> None:
        if progress is not None:
            progress(step, data)

    try:
        async with nats_url_for(runtime) as url:
            summary["bus"] = {"url": redact_url(url), "embedded": runtime.settings.nats_url is None}
            await runtime.connect(url)
            data_plane = [s for s in specs.values() if s.build_stage is not None and s.consumes]

            async def extract() -> None:
                summary["extraction"] = await _extract(runtime, specs, users, seed, days, min_quality, note)

            summary["stages"] = await _feed_stages(runtime, data_plane, extract, note, progress)
            summary["dlq"] = {row["stage"]: sum(row.get("dlq", {}).values()) for row in summary["stages"]}
            for spec in specs.values():
                if spec.run_summary is not None:
                    summary.setdefault("details", {})[spec.name] = await call_hook(
                        spec.run_summary, runtime, runtime.run_id
                    )

            async def refeed() -> list[dict[str, Any]]:
                return await _feed_stages(runtime, data_plane, None, note, progress)

            summary["control_plane"] = await _control_plane(runtime, specs, steps, note, refeed)
            summary["rounds"] = rounds(summary["control_plane"])
            failed = [k for k, v in summary["control_plane"].items() if isinstance(v, dict) and v.get("error")]
            summary["status"] = "failed" if failed else "succeeded"
            await runtime.require_bus().close()
            runtime.bus = None
    except BaseException as exc:
        summary["status"] = "failed"
        summary["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        summary["seconds"] = round(time.monotonic() - started, 2)
        summary["finished_at"] = dt.datetime.now(dt.UTC).isoformat()
        summary.update(redact(summary))  # an error message or a hook's detail may quote a URL too
        path = runtime.run_dir() / "summary.json"
        path.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
        summary["summary_path"] = str(path)
        with runtime.registry.session() as s:
            run = s.get(Run, runtime.run_id)
            if run is not None:
                run.status = summary["status"]
                run.finished_at = dt.datetime.now(dt.UTC)
                run.summary = {k: v for k, v in summary.items() if k != "summary_path"}
    return summary


async def _feed_stages(
    runtime: Runtime,
    data_plane: list[ServiceSpec],
    publish: Callable[[], Awaitable[None]] | None,
    note: Progress,
    progress: Progress | None,
) -> list[dict[str, Any]]:
    """Run every data-plane stage, let `publish` feed the first one (or take what is already
    waiting on the streams), and return each stage's counts once all are drained."""
    stop = asyncio.Event()
    running = await run_services(runtime, data_plane, stop)
    try:
        if publish is not None:
            await publish()
        note("draining", {})
        await wait_drained(runtime, running.workers, progress=progress)
    finally:
        stop.set()
        await asyncio.gather(*running.tasks, return_exceptions=True)
    return [w.stats.as_dict() for w in running.workers]


async def _extract(
    runtime: Runtime,
    specs: dict[str, ServiceSpec],
    users: int,
    seed: int,
    days: int,
    min_quality: float,
    note: Progress,
) -> dict[str, Any]:
    extractor = specs.get("extractor")
    if extractor is None or "extract" not in extractor.hooks:
        return {"skipped": "no extractor installed"}
    out: dict[str, Any] = {}
    if not runtime.settings.source_url and "demo_db" in extractor.hooks:
        path = runtime.settings.home / "demo.db"
        if not path.exists():
            note("demo-db", {"path": str(path), "users": users})
            out["demo_db"] = await call_hook(extractor.hooks["demo_db"], path, users, seed)
        out["source"] = str(path)
    else:
        out["source"] = "CRUCIBLE_SOURCE_URL"
    note("extract", {"days": days, "min_quality": min_quality})
    out["report"] = await call_hook(extractor.hooks["extract"], runtime, days=days, min_quality=min_quality)
    return out


async def _control_plane(
    runtime: Runtime,
    specs: dict[str, ServiceSpec],
    steps: list[str] | None,
    note: Progress,
    refeed: Callable[[], Awaitable[list[dict[str, Any]]]],
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    carried = Carried()

    def wanted(service: str) -> bool:
        spec = specs.get(service)
        return spec is not None and (steps is None or service in steps)

    for step in CONTROL_STEPS:
        spec = specs.get(step.service)
        if spec is None or step.hook not in spec.hooks:
            continue
        if step.serves and not wanted(step.serves):
            continue
        if steps is not None and step.service not in steps and step.name not in steps and not step.serves:
            results[step.name] = {"skipped": "not requested"}
            continue
        args = step.arguments(carried)
        if isinstance(args, str):
            results[step.name] = {"skipped": args}
            continue
        result = await _run_step(spec, step, runtime, args, note)
        if result.get("error"):
            results[step.name] = result
            break
        step.carry(carried, result)
        results[step.name] = {k: v for k, v in result.items() if k not in step.handover}
        if step.feeds_stages and result.get(step.feeds_stages) and wanted("dataset"):
            note("feeding the stages again", {"after": step.name, "published": result[step.feeds_stages]})
            results[step.name]["stages_after"] = await refeed()
            rebuilt = await _run_step(specs["dataset"], CONTROL_STEPS[0], runtime, (), note)
            results[f"dataset_after_{step.name}"] = rebuilt
            if rebuilt.get("error"):
                break
            _carry_dataset(carried, rebuilt)
    return results


async def _run_step(
    spec: ServiceSpec, step: ControlStep, runtime: Runtime, args: tuple[Any, ...], note: Progress
) -> dict[str, Any]:
    """One hook call: its summary (with the seconds it took), or the error that stopped it."""
    note(step.name, {"hook": step.hook})
    t0 = time.monotonic()
    try:
        result = dict(await call_hook(spec.hooks[step.hook], runtime, *args) or {})
    except Exception as exc:
        log.exception("%s.%s failed", step.service, step.hook)
        return {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc(limit=5)}
    result.setdefault("seconds", round(time.monotonic() - t0, 2))
    return result
