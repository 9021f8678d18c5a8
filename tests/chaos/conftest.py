"""The chaos suite's knobs. `make test` runs the short form (a few kills, a few hundred records);
`make chaos` sets CRUCIBLE_CHAOS_KILLS / CRUCIBLE_CHAOS_RECORDS / CRUCIBLE_CHAOS_SEED for the long one.
Figures are printed as one JSON line per test (prefix `CHAOS `), and written to CRUCIBLE_CHAOS_OUT
(a folder) when set."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class ChaosParams:
    kills: int
    records: int
    seed: int
    timeout_s: float


@pytest.fixture
def chaos_params() -> ChaosParams:
    return ChaosParams(
        kills=int(os.environ.get("CRUCIBLE_CHAOS_KILLS", "4")),
        records=int(os.environ.get("CRUCIBLE_CHAOS_RECORDS", "200")),
        seed=int(os.environ.get("CRUCIBLE_CHAOS_SEED", "25")),
        timeout_s=float(os.environ.get("CRUCIBLE_CHAOS_TIMEOUT_S", "240")),
    )


@pytest.fixture
def report_figures(capsys: pytest.CaptureFixture[str]) -> Callable[[str, dict[str, Any]], None]:
    def report(name: str, figures: dict[str, Any]) -> None:
        line = json.dumps({"test": name, **figures}, sort_keys=True)
        with capsys.disabled():
            print(f"\nCHAOS {line}")
        out = os.environ.get("CRUCIBLE_CHAOS_OUT")
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / f"{name}.json").write_text(line + "\n")

    return report
