"""Progress of a running job: a Trainer callback that turns the Trainer's logs into
`train.progress` events (crucible.v1.events_pb2.TrainProgress) and Prometheus gauges."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

from crucible.trainer import instruments
from crucible.v1 import events_pb2

ProgressSink = Callable[[events_pb2.TrainProgress], None]


class ProgressReporter(TrainerCallback):
    def __init__(self, job_id: str, sink: ProgressSink) -> None:
        self.job_id = job_id
        self.sink = sink
        self.eval_loss = math.nan
        self._t0 = 0.0
        self._step0 = 0
        self._last_t = 0.0
        self._last_tokens = 0
        self.last: events_pb2.TrainProgress | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._t0 = self._last_t = time.perf_counter()
        self._step0 = state.global_step
        self._last_tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
        instruments.TRAIN_TOTAL_STEPS.set(state.max_steps)

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **_: Any
    ) -> None:
        if metrics and "eval_loss" in metrics:
            self.eval_loss = float(metrics["eval_loss"])
            instruments.TRAIN_EVAL_LOSS.set(self.eval_loss)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **_: Any) -> None:
        if not logs or "loss" not in logs or not state.is_world_process_zero:
            return
        now = time.perf_counter()
        tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
        tps = (tokens - self._last_tokens) / max(now - self._last_t, 1e-9)
        self._last_t, self._last_tokens = now, tokens
        done = state.global_step - self._step0
        per_step = (now - self._t0) / done if done > 0 else 0.0
        msg = events_pb2.TrainProgress(
            job_id=self.job_id,
            step=state.global_step,
            total_steps=state.max_steps,
            epoch=float(state.epoch or 0.0),
            loss=float(logs["loss"]),
            eval_loss=self.eval_loss,
            learning_rate=float(logs.get("learning_rate", math.nan)),
            tokens_per_second=tps,
            eta_seconds=max(state.max_steps - state.global_step, 0) * per_step,
        )
        g = instruments
        g.TRAIN_STEP.set(msg.step)
        g.TRAIN_LOSS.set(msg.loss)
        g.TRAIN_LEARNING_RATE.set(msg.learning_rate)
        g.TRAIN_TOKENS_PER_SECOND.set(tps)
        g.TRAIN_ETA_SECONDS.set(msg.eta_seconds)
        self.last = msg
        self.sink(msg)
