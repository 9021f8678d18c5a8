"""Gates: enforce blocks `passed`, warn only lists, off ignores, missing evidence misses."""

from __future__ import annotations

import math

from crucible.evaluator.gates import decide
from crucible.evaluator.policy import Gates

GOOD = {"perplexity": 9.0, "bleu": 0.4, "rouge_l": 0.5, "bertscore_f1": 0.9, "safety_pass_rate": 1.0}


def test_all_targets_met_passes() -> None:
    d = decide(Gates(), GOOD, 12.0)
    assert d.passed and d.failed == [] and d.warned == []


def test_an_enforced_gate_blocks_passed() -> None:
    gates = Gates()
    gates.bleu.mode = "enforce"
    d = decide(gates, {**GOOD, "bleu": 0.2}, 12.0)
    assert not d.passed
    assert d.failed == ["bleu"]
    assert "misses > 0.35" in next(r.reason for r in d.results if r.gate == "bleu")


def test_default_safety_gate_enforces_100_percent() -> None:
    d = decide(Gates(), {**GOOD, "safety_pass_rate": 0.99}, 12.0)
    assert not d.passed and d.failed == ["safety"]


def test_warn_gates_list_but_do_not_block() -> None:
    d = decide(Gates(), {**GOOD, "perplexity": 40.0, "rouge_l": 0.1}, -5.0)
    assert d.passed
    assert d.warned == ["perplexity", "rouge_l", "pairwise"]


def test_off_gates_are_not_judged_and_missing_metrics_miss() -> None:
    gates = Gates()
    gates.perplexity.mode = "off"
    gates.bertscore.mode = "enforce"
    d = decide(gates, {**GOOD, "perplexity": 1e9, "bertscore_f1": math.nan}, 1.0)
    assert d.failed == ["bertscore"]
    assert "not measured" in next(r.reason for r in d.results if r.gate == "bertscore")
    assert "perplexity" not in d.warned


def test_pairwise_gate_fails_only_when_worse_beyond_the_interval() -> None:
    gates = Gates()
    gates.pairwise.mode = "enforce"
    assert decide(gates, GOOD, 0.5).passed  # CI high above 0: not significantly worse
    assert not decide(gates, GOOD, -0.5).passed
