"""Answer-safety judge: one rule set for every place that judges what a model (or a coach) said.

The prompt guard (`guard.py`) reads the person's turn before any model answers; this judge reads
the answer. The evaluator's safety gate, the gateway's incident detection on served answers and
the scorer's screen of the coach's replies in training data all call it, so a model cannot pass
one and be rolled back by another. Rules live in `answer_rules.yaml` (data, reviewed like code);
`ANSWER_JUDGE_VERSION` carries a hash of that file and every caller records it.

The gateway calls `judge_answer` on every sampled served answer, so the common case (a safe
answer) is kept cheap: the text is normalised once and each rule is skipped by a substring
prefilter (`regex_prefilter`) unless a literal every match must contain occurs in it.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from crucible.common.guard import normalise
from crucible.common.regex_prefilter import NeedleFinder, RuleIndex, required_literals

_RULES_FILE = "answer_rules.yaml"
_MAX_EVIDENCE = 80


@dataclass(frozen=True)
class _Pattern:
    pattern: re.Pattern[str]
    # The pattern without its leading assertions (\b, lookbehinds), searched first: it matches
    # wherever the pattern does, and a search that starts with a literal uses the engine's fast
    # prefix scan, which a leading \b turns off (about 20x slower on a 1 KB answer). None: the
    # pattern has no leading assertion.
    scan: re.Pattern[str] | None
    needles: frozenset[str] | None  # literals every match contains (regex_prefilter); None: always search


_LEADING_ASSERTION = re.compile(r"^(?:\\b|\(\?<?[!=][^()]*\))+")


def _scan(pattern: str) -> re.Pattern[str] | None:
    stripped = _LEADING_ASSERTION.sub("", pattern)
    return re.compile(stripped) if stripped != pattern else None


@dataclass(frozen=True)
class AnswerRule:
    rule_id: str
    kind: str  # must | must_not
    description: str
    category: str  # must_not: the incident category ("" for must rules)
    weight: float
    # Each pattern alone with the literals every match of it contains (None: always search): most
    # answers contain none of a pattern's literals, `in` is far cheaper than the regex, and a pattern
    # searched alone keeps the engine's own literal-prefix scan that an alternation of them loses.
    patterns: tuple[_Pattern, ...]
    allow: frozenset[str] = frozenset()
    # The union of the patterns' needles (None when one pattern has none): most answers contain
    # none of a rule's, and one set test skips the whole rule on the serving path.
    needles: frozenset[str] | None = None

    def match(self, normalised: str, present: frozenset[str] | None = None) -> re.Match[str] | None:
        """The first match that counts in already-normalised text, or None. `present`: the rule
        set's needles that occur in the text, when the caller has looked them all up at once."""
        for p in self.patterns:
            if p.needles is not None:
                if present is not None:
                    if p.needles.isdisjoint(present):
                        continue
                elif not any(n in normalised for n in p.needles):
                    continue
            if p.scan is not None and p.scan.search(normalised) is None:
                continue
            for m in p.pattern.finditer(normalised) if self.allow else (p.pattern.search(normalised),):
                if m is not None and m.group(0) not in self.allow:
                    return m
        return None

    def found(self, answer: str) -> bool:
        return self.match(normalise(answer)) is not None


@dataclass(frozen=True)
class AnswerVerdict:
    """The judge's reading of one answer: unsafe or not, the score, and the strongest rule found."""

    unsafe: bool
    score: float
    category: str = ""
    rule_id: str = ""
    evidence: str = ""
    hits: tuple[str, ...] = ()


_SAFE = AnswerVerdict(False, 0.0)  # immutable: one instance serves every safe answer


@dataclass(frozen=True)
class _RuleSet:
    version: str
    threshold: float
    categories: tuple[str, ...]
    must: dict[str, AnswerRule]
    must_not: dict[str, AnswerRule]
    scored: tuple[AnswerRule, ...]  # must_not rules with weight > 0, strongest first
    needles: NeedleFinder  # every needle of the scored rules: one pass finds those present
    index: RuleIndex  # which scored rules can match, from the needles present


def parse_rules(text: str) -> _RuleSet:
    """Validate and compile a rules file (ValueError on an unknown category, a bad weight, a pattern
    that does not compile or one written in upper case)."""
    data: dict[str, Any] = yaml.safe_load(text)
    categories = tuple(data["categories"])
    threshold = float(data["unsafe_threshold"])
    if not 0 < threshold <= 1:
        raise ValueError(f"answer rules: unsafe_threshold {threshold} must be in (0, 1]")
    compiled: dict[str, dict[str, AnswerRule]] = {"must": {}, "must_not": {}}
    for kind in ("must", "must_not"):
        for row in data[kind]:
            rid = row["id"]
            if rid in compiled["must"] or rid in compiled["must_not"]:
                raise ValueError(f"answer rules: duplicate id {rid}")
            category = str(row.get("category", "")) if kind == "must_not" else ""
            if kind == "must_not" and category not in categories:
                raise ValueError(f"answer rules: {rid} has unknown category {category!r}")
            weight = float(row.get("weight", 0.0))
            if not 0 <= weight < 1:
                raise ValueError(f"answer rules: {rid} weight {weight} must be in [0, 1)")
            patterns = []
            for p in row["patterns"]:
                # Text is lower-cased before matching; an upper-case escape (\S, \W) would change meaning.
                if p != p.lower():
                    raise ValueError(f"answer rules: {rid}: write patterns in lower case: {p!r}")
                try:
                    compiled_p = re.compile(p)
                except re.error as err:
                    raise ValueError(f"answer rules: {rid}: bad pattern {p!r}: {err}") from None
                # A one-character literal ('@') still beats searching; the rule's own `needles` are the
                # fallback for a pattern with no literal at all (a phone number: any digit).
                needles = required_literals(compiled_p) or required_literals(compiled_p, 1)
                if needles is None and "needles" in row:
                    needles = frozenset(row["needles"])
                patterns.append(_Pattern(compiled_p, _scan(p), needles))
            compiled[kind][rid] = AnswerRule(
                rule_id=rid,
                kind=kind,
                description=str(row["description"]),
                category=category,
                weight=weight,
                patterns=tuple(patterns),
                allow=frozenset(row.get("allow", ())),
                needles=None
                if any(p.needles is None for p in patterns)
                else frozenset().union(*(p.needles for p in patterns if p.needles is not None)),
            )
    scored = tuple(sorted((r for r in compiled["must_not"].values() if r.weight > 0), key=lambda r: -r.weight))
    needles = NeedleFinder(n for r in scored for p in r.patterns if p.needles is not None for n in p.needles)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return _RuleSet(
        f"answer-1+{digest}", threshold, categories, compiled["must"], compiled["must_not"], scored, needles,
        RuleIndex(r.needles for r in scored),
    )  # fmt: skip


@functools.cache
def _ruleset() -> _RuleSet:
    return parse_rules(resources.files("crucible.common").joinpath(_RULES_FILE).read_text(encoding="utf-8"))


ANSWER_JUDGE_VERSION: str = _ruleset().version
UNSAFE_THRESHOLD: float = _ruleset().threshold
INCIDENT_CATEGORIES: tuple[str, ...] = _ruleset().categories


def must_rules() -> dict[str, AnswerRule]:
    """What a case may require of a safe answer, by rule id."""
    return dict(_ruleset().must)


def must_not_rules() -> dict[str, AnswerRule]:
    """What a safe answer must not do, by rule id (weight 0: checked only when a case names it)."""
    return dict(_ruleset().must_not)


def judge_answer(answer: str, threshold: float | None = None) -> AnswerVerdict:
    """The verdict on `answer`: score = 1 - prod(1 - weight) over the weighted must_not rules found;
    unsafe at or above `threshold` (the rules file's `unsafe_threshold` when None). The category,
    rule and evidence are the strongest rule's (evidence: the matched words, digits masked)."""
    rs = _ruleset()
    text = normalise(answer)
    present = rs.needles.present(text)
    candidates = rs.index.candidates(present)
    if not candidates:  # no rule's literal occurs: the common case on the serving path
        return _SAFE
    keep = 1.0
    first: tuple[AnswerRule, re.Match[str]] | None = None
    hits: list[str] = []
    for i in candidates:
        rule = rs.scored[i]
        m = rule.match(text, present)
        if m is None:
            continue
        hits.append(rule.rule_id)
        keep *= 1.0 - rule.weight
        if first is None:
            first = (rule, m)
    if first is None:
        return _SAFE
    score = round(1.0 - keep, 6)
    limit = rs.threshold if threshold is None else threshold
    rule, m = first
    evidence = re.sub(r"\d", "#", m.group(0))[:_MAX_EVIDENCE]
    return AnswerVerdict(score >= limit - 1e-9, score, rule.category, rule.rule_id, evidence, tuple(hits))


def unsafe_score(answer: str) -> float:
    """P(unsafe) of the answer as the judge scores it (0 when no weighted rule is found)."""
    return judge_answer(answer).score
