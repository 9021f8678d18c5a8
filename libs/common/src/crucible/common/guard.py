"""Serving safety guard: what a person gets on a risky prompt is a vetted answer, never the raw model.

A deterministic, pure check over the person's turn (and, for crisis and abuse, their previous
turns): when a cue for crisis (suicidal ideation, self-harm), abuse or an unsafe home, a
boundary violation (covert surveillance, control, pursuit), a harmful-advice request or an
attempt to extract personal data is found, the serving path answers with the category's
template (crisis lines, domestic-violence hotlines, a refusal that names consent and privacy)
instead of calling a model. The gateway applies it before choosing a backend; the evaluator
judges a candidate as served (guard + model) and reports the raw model's safety beside it.

Rules and templates live in `guard_rules.yaml` (data, reviewed like code); `GUARD_VERSION`
carries a hash of that file so a report or a metric says exactly which rules were used.
A decision never carries personal data: the cue is the matched cue words, with any free
text between them blanked and digits masked.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from crucible.common.regex_prefilter import RuleIndex, required_literals

CATEGORIES = ("crisis", "abuse", "privacy", "boundaries", "harmful_advice")
_RULES_FILE = "guard_rules.yaml"
_MAX_CUE = 80


@dataclass(frozen=True)
class GuardDecision:
    """Why the guard answered: the category, the rule and the cue words that matched."""

    category: str
    rule_id: str
    cue: str
    from_history: bool = False


@dataclass(frozen=True)
class _Rule:
    rule_id: str
    category: str
    pattern: re.Pattern[str]  # the rule's patterns as one alternation: one scan per rule
    unless: tuple[re.Pattern[str], ...]
    # Strings of which every match contains one (regex_prefilter): most prompts contain none of
    # them, and `in` is far cheaper than running the alternation. None: always search.
    needles: frozenset[str] | None = None


@dataclass(frozen=True)
class _RuleSet:
    version: str
    order: tuple[str, ...]
    rules: tuple[_Rule, ...]
    templates: dict[str, str]
    history_turns: int
    history_categories: frozenset[str]
    # Every rule's needles at once: one pass over the text finds which occur, and so which rules
    # can match (regex_prefilter).
    index: RuleIndex


def _rules_text() -> str:
    return resources.files("crucible.common").joinpath(_RULES_FILE).read_text(encoding="utf-8")


def parse_rules(text: str) -> _RuleSet:
    """Validate and compile a rules file (raises ValueError on an unknown category, a missing
    template or a pattern that does not compile)."""
    data: dict[str, Any] = yaml.safe_load(text)
    order = tuple(data["order"])
    if sorted(order) != sorted(CATEGORIES):
        raise ValueError(f"guard rules: order {order} must list exactly {CATEGORIES}")
    templates = {k: " ".join(str(v).split()) for k, v in data["templates"].items()}
    missing = [c for c in CATEGORIES if not templates.get(c)]
    if missing:
        raise ValueError(f"guard rules: no template for {missing}")
    rules = []
    for row in data["rules"]:
        if row["category"] not in CATEGORIES:
            raise ValueError(f"guard rules: {row['id']} has unknown category {row['category']!r}")
        try:
            for p in row["patterns"]:
                re.compile(p)  # each alone first, so an error names the pattern's own position
            pattern = re.compile("|".join(_renamed_gaps(p, i) for i, p in enumerate(row["patterns"])))
            rules.append(
                _Rule(
                    rule_id=row["id"],
                    category=row["category"],
                    pattern=pattern,
                    unless=tuple(re.compile(p) for p in row.get("unless", ())),
                    needles=required_literals(pattern),
                )
            )
        except re.error as err:
            raise ValueError(f"guard rules: {row['id']}: bad pattern: {err}") from None
    # Rules grouped in category order so the first hit is the most urgent category.
    rules.sort(key=lambda r: order.index(r.category))
    hist = data.get("history", {})
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return _RuleSet(
        index=RuleIndex(r.needles for r in rules),
        version=f"guard-1+{digest}",
        order=order,
        rules=tuple(rules),
        templates=templates,
        history_turns=int(hist.get("turns", 0)),
        history_categories=frozenset(hist.get("categories", ())),
    )


def _renamed_gaps(pattern: str, index: int) -> str:
    # Group names must be unique across the alternation: gap1 of pattern 3 becomes p3gap1.
    return "(?:" + re.sub(r"\(\?P<(gap\d*)>", lambda m: f"(?P<p{index}{m.group(1)}>", pattern) + ")"


@functools.cache
def _ruleset() -> _RuleSet:
    return parse_rules(_rules_text())


GUARD_VERSION: str = _ruleset().version

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})


def normalise(text: str) -> str:
    """Lower case, straight quotes, single spaces: the form every pattern is written for."""
    if not text.isascii():  # the quotes to straighten are not ASCII; most texts are
        text = text.translate(_QUOTES)
    return " ".join(text.lower().split())


def _cue(match: re.Match[str]) -> str:
    """The matched words with free-text gaps blanked and digits masked (never echo PII)."""
    text = match.group(0)
    spans = sorted(
        (match.span(g) for g in match.re.groupindex if "gap" in g and match.group(g) is not None),
        reverse=True,
    )
    start = match.start()
    for a, b in spans:
        text = text[: a - start] + " … " + text[b - start :]
    text = re.sub(r"\d", "#", " ".join(text.split()))
    return text[:_MAX_CUE]


def _first_hit(text: str, rs: _RuleSet, categories: frozenset[str] | None = None) -> GuardDecision | None:
    """The first rule (of `categories`, all when None) whose pattern matches and no exception does."""
    for i in rs.index.candidates(rs.index.finder.present(text)):  # only rules whose literals occur can match
        rule = rs.rules[i]
        if categories is not None and rule.category not in categories:
            continue
        # The pattern first: most prompts hit no rule, so the `unless` exceptions are rarely searched.
        m = rule.pattern.search(text)
        if m and not any(u.search(text) for u in rule.unless):
            return GuardDecision(rule.category, rule.rule_id, _cue(m))
    return None


def check_prompt(text: str, history: Sequence[str] = ()) -> GuardDecision | None:
    """The guard's decision for the person's turn `text`, or None when the model may answer.

    `history` is the person's earlier turns, oldest first; the newest `history.turns` of them
    are checked for crisis and abuse cues only, so a follow-up after a disclosure is also
    answered safely, while an old harmless-advice topic does not hold the conversation hostage.
    """
    rs = _ruleset()
    hit = _first_hit(normalise(text), rs)
    if hit is not None:
        return hit
    if rs.history_turns and history:
        recent = [h for h in history if h and h.strip()][-rs.history_turns :]
        for turn in reversed(recent):
            hit = _first_hit(normalise(turn), rs, rs.history_categories)
            if hit is not None:
                return GuardDecision(hit.category, hit.rule_id, hit.cue, from_history=True)
    return None


def check_messages(messages: Sequence[dict[str, str]]) -> GuardDecision | None:
    """`check_prompt` over a chat (OpenAI `messages`): the last user turn, with the earlier
    user turns as history. None when there is no user turn."""
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    if not users:
        return None
    return check_prompt(users[-1], users[:-1])


def guarded_answer(decision: GuardDecision) -> str:
    """The vetted answer for the decision's category."""
    return _ruleset().templates[decision.category]


def templates() -> dict[str, str]:
    """Every category's template (for docs, reviews and tests)."""
    return dict(_ruleset().templates)
