"""Scorer test fixtures: the real trained models (trained once, reused while the training inputs are unchanged)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from crucible.common.artifacts import ArtifactStore
from crucible.scorer.models import load_models
from crucible.scorer.policy import ScorerPolicy
from crucible.scorer.training import inputs_digest


def trained_store() -> ArtifactStore:
    """An artifact store holding models trained from the current data and code (about a minute the first time)."""
    root = Path(tempfile.gettempdir()) / f"crucible-scorer-test-models-{inputs_digest()[:16]}"
    store = ArtifactStore(root.as_uri())
    load_models(store, ScorerPolicy(), train_if_missing=True)
    return store


@pytest.fixture(scope="session")
def scorer_store() -> ArtifactStore:
    return trained_store()


@pytest.fixture(scope="session")
def scorer_models(scorer_store: ArtifactStore):
    return load_models(scorer_store, ScorerPolicy())
