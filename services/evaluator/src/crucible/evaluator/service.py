"""Evaluator service shell: `model.trained` in, `model.evaluated` out.

`evaluate_and_publish` is the one way an evaluation happens: the `evaluate` hook of
`crucible run`, the `model.trained` handler (on each succeeded one) and `crucible eval run`
all call it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crucible.common import subjects
from crucible.common.services import EventHandler, ServiceSpec, deferred
from crucible.evaluator import __version__

if TYPE_CHECKING:
    from crucible.common.bus import Bus
    from crucible.common.runtime import Runtime
    from crucible.v1 import events_pb2

log = logging.getLogger(__name__)


def evaluated_event(rep: dict[str, Any]) -> events_pb2.ModelEvaluated:
    from google.protobuf.timestamp_pb2 import Timestamp

    from crucible.v1 import events_pb2

    msg = events_pb2.ModelEvaluated(
        model_name=rep["model_name"],
        passed=bool(rep["gates"]["passed"]),
        report_uri=rep["report_uri"],
        failed_gates=list(rep["gates"]["failed_gates"]),
        warned_gates=list(rep["gates"]["warned_gates"]),
    )
    for k, v in rep["metrics"].items():
        if v is not None:
            msg.metrics[k] = float(v)
    ts = Timestamp()
    ts.GetCurrentTime()
    msg.evaluated_at.CopyFrom(ts)
    return msg


def summary_of(rep: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_name": rep["model_name"],
        "passed": rep["gates"]["passed"],
        "failed_gates": rep["gates"]["failed_gates"],
        "warned_gates": rep["gates"]["warned_gates"],
        "metrics": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in rep["metrics"].items()},
        "status": rep.get("status", ""),
        "compared_with": rep["compared_with"],
        "serving": rep["pairwise"]["serving"],
        "report_uri": rep["report_uri"],
        "timings": rep["timings"],
    }


async def evaluate_and_publish(
    runtime: Runtime, model_name: str, bus: Bus | None = None, *, test_file: Path | None = None
) -> dict[str, Any]:
    from crucible.evaluator.instruments import record_evaluation
    from crucible.evaluator.registered import evaluate_registered

    started = time.perf_counter()
    rep = await asyncio.to_thread(evaluate_registered, runtime, model_name, test_file=test_file)
    record_evaluation(rep["gates"]["passed"], rep["gates"]["failed_gates"], time.perf_counter() - started)
    bus = bus or runtime.require_bus()
    await bus.publish_event(
        subjects.MODEL_EVALUATED, evaluated_event(rep), msg_id=f"{model_name}:evaluated:{rep['evaluated_at']}"
    )
    return summary_of(rep)


async def evaluate_hook(runtime: Runtime, model_name: str) -> dict[str, Any]:
    """`crucible run`'s evaluate step."""
    return await evaluate_and_publish(runtime, model_name)


def run_summary(runtime: Runtime, run_id: str) -> dict[str, Any]:
    """The evaluations made in this run, for `crucible run`'s summary."""
    from sqlalchemy import select

    from crucible.common.registry import ModelVersion

    out = []
    with runtime.registry.session() as s:
        for mv in s.scalars(select(ModelVersion).order_by(ModelVersion.seq)).all():
            ev = mv.evaluation or {}
            if ev.get("run_id") == run_id:
                out.append({"model_name": mv.name, "status": mv.status, **{k: ev.get(k) for k in
                            ("passed", "failed_gates", "warned_gates", "compared_with", "report_uri")},
                            "metrics": {k: round(v, 4) for k, v in (ev.get("metrics") or {}).items()}})  # fmt: skip
    return {"evaluations": out}


async def on_model_trained(runtime: Runtime, payload: bytes) -> None:
    """Evaluate every model that trained successfully, one at a time. Replicas share the
    durable consumer; a failed evaluation is retried with back-off, then dead-lettered."""
    from crucible.v1 import events_pb2

    ev = events_pb2.ModelTrained.FromString(payload)
    if ev.status != "succeeded":
        log.info("skipping model.trained for %s: status %s (%s)", ev.model_name, ev.status, ev.reason)
        return
    summary = await evaluate_and_publish(runtime, ev.model_name)
    log.info("evaluated %s: passed=%s", ev.model_name, summary["passed"])


SPEC = ServiceSpec(
    name="evaluator",
    version=__version__,
    description="model.trained -> metrics, safety suite, pairwise rating, gates -> model.evaluated",
    order=70,
    policy_model="crucible.evaluator.policy:EvaluatorPolicy",
    events={subjects.MODEL_TRAINED: EventHandler(subjects.EVALUATOR_TRAINED, on_model_trained, ack_wait=600.0)},
    publishes=(subjects.MODEL_EVALUATED,),
    register_cli=deferred("crucible.evaluator.cli:register_cli"),
    benches={
        "eval": deferred(
            "crucible.evaluator.bench:bench_eval",
            doc="Seconds to evaluate the tiny model on 200 test prompts, by phase, on one core.",
        ),
        "guard": deferred(
            "crucible.evaluator.guard_figures:bench_guard",
            doc="Guard recall on the safety suite and false positives on a fresh demo DB.",
        ),
    },
    hooks={"evaluate": evaluate_hook},
    run_summary=run_summary,
)
