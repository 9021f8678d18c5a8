"""Trainer test fixtures: one tiny base model per session (built for real, briefly pre-trained),
chat JSONL splits, and a Runtime whose policy has only the trainer's section (so the tests do
not depend on other services being installed)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from crucible.common.config import Settings, load_policy
from crucible.common.runtime import Runtime
from crucible.trainer.policy import TrainerPolicy


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from crucible.trainer.tiny import TinySpec, build_tiny_model, tiny_corpus

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("tiny") / "tiny-base"
    texts, chats = tiny_corpus(None)
    build_tiny_model(path, texts, TinySpec(pretrain_steps=80), chats=chats)
    return path


def new_style_chats(n: int, seed: int) -> list[list[dict[str, str]]]:
    """Conversations whose answers follow one fixed, new pattern the base model has not seen,
    so a short fine-tune measurably lowers the validation loss."""
    import random

    rng = random.Random(seed)
    topics = ["chores", "money", "family visits", "date nights", "screen time", "sleep", "work stress"]
    chats = []
    for _ in range(n):
        topic = rng.choice(topics)
        chats.append(
            [
                {"role": "user", "content": f"We keep fighting about {topic}. Any idea?"},
                {
                    "role": "assistant",
                    "content": f"Step one: pick a calm time. Step two: each of you names one "
                    f"need about {topic}. Step three: agree on one small change for this week.",
                },
            ]
        )
    return chats


def write_chat_jsonl(path: Path, chats: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for c in chats:
            fh.write(json.dumps({"messages": c}) + "\n")
    return path


@pytest.fixture
def splits(tmp_path: Path) -> tuple[Path, Path]:
    return (
        write_chat_jsonl(tmp_path / "data" / "train.chat.jsonl", new_style_chats(48, seed=1)),
        write_chat_jsonl(tmp_path / "data" / "val.chat.jsonl", new_style_chats(12, seed=2)),
    )


def make_runtime(home: Path, **trainer: object) -> Runtime:
    policy = load_policy(None, {"trainer": TrainerPolicy}, overrides={f"trainer.{k}": v for k, v in trainer.items()})
    return Runtime.create(Settings(home=home, log_json=False), policy=policy)


@pytest.fixture
def trainer_runtime(tmp_path: Path, tiny_model: Path) -> Iterator[Runtime]:
    """A runtime whose default base model is the session's tiny model (placed where the
    trainer builds it on demand), with a short, fast schedule."""
    home = tmp_path / "home"
    shutil.copytree(tiny_model, home / "models" / "tiny-base")
    rt = make_runtime(
        home,
        max_steps=12,
        checkpoint_every_steps=4,
        progress_every_steps=2,
        learning_rate=2e-3,
        max_seq_length=128,
        warmup_ratio=0.0,
    )
    yield rt
    rt.registry.dispose()
