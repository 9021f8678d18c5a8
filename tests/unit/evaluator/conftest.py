"""Fixtures for the evaluator: a tiny causal LM with a LoRA adapter, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(base model folder, LoRA adapter folder)."""
    from crucible.evaluator import tiny_lm

    root = tmp_path_factory.mktemp("tiny")
    chats = tiny_lm.coaching_chats(200, seed=1)
    base = tiny_lm.build_tiny_model(root / "base", chats, steps=40)
    adapter = tiny_lm.train_lora_adapter(base, root / "adapter", chats, steps=10)
    return base, adapter


@pytest.fixture
def fast_policy():
    from crucible.evaluator.policy import EvaluatorPolicy

    p = EvaluatorPolicy()
    p.generation.max_new_tokens = 16
    p.generation.batch_size = 8
    p.max_test_examples = 12
    p.pairwise_prompts = 12
    p.rating.bootstrap_rounds = 50
    return p
