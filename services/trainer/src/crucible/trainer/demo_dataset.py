"""The demo dataset, built the way `crucible run` builds it, for `crucible bench train`.

The demo dataset is what the pipeline makes of the demo app database: `crucible demo-db`
(extractor), scrubbed, scored, deduplicated and turned into a dataset version (chat format, with
the dataset service's system prompt, turns cut at the last reply, quality selection). The trainer
cannot import those services (services share data, not code), so it runs
`crucible run --steps dataset` as a command in a temporary `CRUCIBLE_HOME` — the embedded defaults:
nats-server, a SQLite registry, the generated demo database — and reads the train split of the
dataset version it registered, through the same code a training job uses. Converting the demo
database's rows to chats here instead would be a second, diverging copy of the dataset
service's formatting and selection, not the demo dataset."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

DEMO_USERS = 200  # `crucible run`'s default
DEMO_SEED = 7

Chats = list[list[dict[str, str]]]


def pipeline_env(home: Path, environ: dict[str, str]) -> dict[str, str]:
    """The environment for the pipeline subprocess: every `CRUCIBLE_*` setting that could point
    it at real infrastructure (database, bus, source, artifacts) removed, state in `home`."""
    env = {k: v for k, v in environ.items() if not k.startswith("CRUCIBLE_")}
    env.update(CRUCIBLE_HOME=str(home), CRUCIBLE_LOG_JSON="false", OMP_NUM_THREADS=environ.get("OMP_NUM_THREADS", "1"))
    return env


def build_demo_dataset(home: Path, users: int = DEMO_USERS, seed: int = DEMO_SEED, timeout: float = 1800) -> None:
    """Runs the embedded pipeline up to the dataset build; raises CalledProcessError on failure."""
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "crucible.common.cli", "run", "--users", str(users), "--seed", str(seed),
         "--steps", "dataset"],
        check=True, capture_output=True, text=True, timeout=timeout, cwd=home,  # cwd: no stray crucible.yaml
        env=pipeline_env(home, dict(os.environ)),
    )  # fmt: skip


def newest_train_split(home: Path) -> tuple[Chats, str]:
    """The train split of the newest dataset version registered under `home`."""
    from sqlalchemy import select

    from crucible.common.config import Settings, load_policy
    from crucible.common.registry import DatasetVersion
    from crucible.common.runtime import Runtime
    from crucible.trainer.inputs import TrainingInputError, data_from_registry
    from crucible.trainer.policy import TrainerPolicy

    settings = Settings(home=home, database_url=None, artifacts_url=None, log_json=False)
    runtime = Runtime.create(settings, policy=load_policy(None, {"trainer": TrainerPolicy}), migrate=False)
    try:
        with runtime.registry.session() as s:
            version = s.scalar(select(DatasetVersion.version).order_by(DatasetVersion.seq.desc()).limit(1))
        if version is None:
            raise TrainingInputError("the pipeline registered no dataset version")
        return data_from_registry(runtime, version).train, version
    finally:
        runtime.registry.dispose()


def demo_train_chats(users: int = DEMO_USERS, seed: int = DEMO_SEED) -> tuple[Chats, str]:
    """(train chats, dataset version) of a freshly built demo dataset."""
    with tempfile.TemporaryDirectory(prefix="crucible-bench-demo-") as tmp:
        home = Path(tmp) / "home"
        build_demo_dataset(home, users, seed)
        return newest_train_split(home)
