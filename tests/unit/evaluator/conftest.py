"""Fixtures for the evaluator: the shared tiny causal LM with a LoRA adapter, built once per session."""

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
def tiny_models(tiny_base_model: Path, tiny_adapter: Path) -> tuple[Path, Path]:
    """(base model folder, LoRA adapter folder): the project's shared tiny Llama (`crucible models
    init-tiny`) and a random-B LoRA on it, so the candidate answers differently from its base."""
    return tiny_base_model, tiny_adapter


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
