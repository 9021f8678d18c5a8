from __future__ import annotations

import pytest

from crucible.dedup.corpus import generate
from crucible.dedup.params import DedupParams


@pytest.fixture(scope="session")
def params() -> DedupParams:
    return DedupParams.for_threshold()


@pytest.fixture(scope="session")
def base_texts() -> list[str]:
    """Distinct ~300-character texts (no planted copies)."""
    texts, _ = generate(400, seed=3, duplicate_share=0.0)
    return texts
