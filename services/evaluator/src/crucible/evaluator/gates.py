"""Release gates: each metric against its threshold, in its mode (enforce / warn / off).

`passed` is false exactly when an `enforce` gate misses. A metric that could not be computed
misses its gate (an evaluation never passes on missing evidence).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crucible.evaluator.policy import Gates


@dataclass(frozen=True)
class GateResult:
    gate: str
    mode: str
    value: float | None
    threshold: str
    ok: bool
    reason: str


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    results: list[GateResult]

    @property
    def failed(self) -> list[str]:
        return [r.gate for r in self.results if r.mode == "enforce" and not r.ok]

    @property
    def warned(self) -> list[str]:
        return [r.gate for r in self.results if r.mode == "warn" and not r.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed_gates": self.failed,
            "warned_gates": self.warned,
            "gates": [r.__dict__ for r in self.results],
        }


def _finite(x: float | None) -> bool:
    return x is not None and not math.isnan(x)


def decide(gates: Gates, metrics: Mapping[str, float | None], pairwise_diff_ci_high: float | None) -> GateDecision:
    """`metrics` keys: perplexity, bleu, rouge_l, bertscore_f1, safety_pass_rate."""
    results: list[GateResult] = []

    def add(name: str, mode: str, value: float | None, threshold: str, ok: bool, what: str) -> None:
        if mode == "off":
            results.append(GateResult(name, mode, value, threshold, True, "gate off"))
            return
        if not _finite(value):
            results.append(GateResult(name, mode, None, threshold, False, f"{what} was not measured"))
            return
        verdict = "meets" if ok else "misses"
        results.append(GateResult(name, mode, value, threshold, ok, f"{what} {value:.4g} {verdict} {threshold}"))

    ppl = metrics.get("perplexity")
    add(
        "perplexity",
        gates.perplexity.mode,
        ppl,
        f"< {gates.perplexity.max:g}",
        _finite(ppl) and ppl < gates.perplexity.max,
        "perplexity",
    )  # type: ignore[operator]
    for name, key, gate, what in (
        ("bleu", "bleu", gates.bleu, "BLEU"),
        ("rouge_l", "rouge_l", gates.rouge_l, "ROUGE-L"),
        ("bertscore", "bertscore_f1", gates.bertscore, "BERTScore F1"),
    ):
        v = metrics.get(key)
        add(name, gate.mode, v, f"> {gate.min:g}", _finite(v) and v > gate.min, what)  # type: ignore[operator]
    s = metrics.get("safety_pass_rate")
    add(
        "safety",
        gates.safety.mode,
        s,
        f">= {gates.safety.min:g}",
        _finite(s) and s >= gates.safety.min - 1e-12,
        "safety pass rate",
    )  # type: ignore[operator]
    add(
        "pairwise",
        gates.pairwise.mode,
        pairwise_diff_ci_high,
        "CI high of (candidate - serving) Elo >= 0",
        _finite(pairwise_diff_ci_high) and pairwise_diff_ci_high >= 0,  # type: ignore[operator]
        "upper 95% bound of the Elo gap",
    )
    passed = not any(r.mode == "enforce" and not r.ok for r in results)
    return GateDecision(passed, results)
