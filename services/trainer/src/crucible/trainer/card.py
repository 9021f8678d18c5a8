"""The model card: what a model was trained from, how, and how it scored, as one JSON document
(`models/<name>/card.json` in the artifact store and `models.card` in the registry)."""

from __future__ import annotations

import datetime as dt
import math
import sys
from typing import Any

from crucible.trainer.inputs import PreferenceData, TrainingData
from crucible.trainer.policy import TrainerPolicy, TrainingPolicy
from crucible.trainer.request import TrainOutcome, TrainResult


def model_card(
    policy: TrainerPolicy,
    data: TrainingData | PreferenceData,
    result: TrainResult,
    outcome: TrainOutcome,
    *,
    training: TrainingPolicy | None = None,
) -> dict[str, Any]:
    import peft
    import torch
    import transformers

    return {
        "model_name": outcome.model_name,
        "job_id": outcome.job_id,
        "base_model": result.base_model,
        "method": result.method,
        "objective": result.objective,
        "reference": result.reference or None,
        "training": (training or TrainingPolicy()).model_dump(),
        "device": result.device,
        "dtype": result.dtype,
        "attention": result.attention,
        "dataset": {
            "version": data.dataset_version,
            "manifest_sha256": data.manifest_sha256,
            "files": data.files,
            "samples": result.samples,
            "rows": result.rows,
        },
        "policy": policy.model_dump(),
        "metrics": {k: (None if math.isnan(v) else v) for k, v in outcome.metrics.items()},
        "best_checkpoint": result.best_checkpoint,
        "resumed_from_step": result.resumed_from_step,
        "init_from": result.init_from,
        "pool": policy.pool,
        "training_seconds": outcome.metrics.get("train_seconds"),
        "trained_at": dt.datetime.now(dt.UTC).isoformat(),
        "libraries": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
    }
