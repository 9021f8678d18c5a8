"""The safety check run on served answers. Pluggable: anything with
`check(prompt, response) -> SafetyVerdict` works.

The default reads the answer with the shared answer-safety judge (`crucible.common.answer_judge`,
rules in `answer_rules.yaml`), the same rules and weights the evaluator's safety gate uses, so an
answer the gate passes is not an incident here and the reverse. A verdict carries the judge's
version; the gateway exports it (`crucible_gateway_answer_judge_info`) and logs it with every
incident. The judge is cheap on a safe answer (a substring prefilter skips almost every rule), so
it can read every answer; `safety_sample_rate` / `stable_safety_sample_rate` sample when the
cost must come down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from crucible.common import answer_judge


@dataclass(frozen=True)
class SafetyVerdict:
    flagged: bool
    category: str = ""
    evidence: str = ""
    rule_id: str = ""


class SafetyCheck(Protocol):
    def check(self, prompt: str, response: str) -> SafetyVerdict: ...


class JudgeSafetyCheck:
    """The shared answer judge: flagged when the answer's unsafe score reaches the judge's threshold;
    the category is the strongest rule's (a small fixed set: it is a metric label)."""

    version = answer_judge.ANSWER_JUDGE_VERSION

    def check(self, prompt: str, response: str) -> SafetyVerdict:
        verdict = answer_judge.judge_answer(response)
        if not verdict.unsafe:
            return SafetyVerdict(False)
        return SafetyVerdict(True, verdict.category, verdict.evidence, verdict.rule_id)
