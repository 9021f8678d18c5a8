"""The scrubber's detector, built once per test module (the word lists take a second or two)."""

from __future__ import annotations

import pytest

from crucible.scrubber.detect import Detector


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.create()
