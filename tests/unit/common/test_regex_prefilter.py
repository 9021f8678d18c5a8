"""The prefilter is sound: every string a pattern matches contains one of its needles.

Checked two ways: on hand-written patterns, and on thousands of strings *generated from* each
guard rule's own regex (a random walk over its parsed form, kept only when the real regex
matches), so a needle that some match lacks is found."""

from __future__ import annotations

import random
import re
import zlib
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser as parser  # type: ignore[attr-defined]
from typing import Any

import pytest

from crucible.common.guard import _QUOTES, _ruleset, check_prompt, normalise
from crucible.common.regex_prefilter import required_literals

_ALPHABET = "abcdefghijklmnopqrstuvwxyz '?.!0123456789"


def _walk(items: Any, rng: random.Random, out: list[str]) -> None:
    for op, arg in items:
        if op is c.LITERAL:
            out.append(chr(arg))
        elif op is c.NOT_LITERAL:
            out.append(rng.choice([ch for ch in _ALPHABET if ord(ch) != arg]))
        elif op is c.ANY:
            out.append(rng.choice(_ALPHABET))
        elif op is c.IN:
            out.append(_from_class(arg, rng))
        elif op is c.BRANCH:
            _walk(rng.choice(arg[1]), rng, out)
        elif op is c.SUBPATTERN:
            _walk(arg[-1], rng, out)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            low, high, body = arg
            top = min(high, low + 2) if high != c.MAXREPEAT else low + 2
            for _ in range(rng.randint(low, top)):
                _walk(body, rng, out)
        # zero-width items (\b, lookarounds) generate nothing; the real regex decides afterwards


def _from_class(arg: Any, rng: random.Random) -> str:
    negate = any(op is c.NEGATE for op, _ in arg)
    allowed = set()
    for op, val in arg:
        if op is c.LITERAL:
            allowed.add(chr(val))
        elif op is c.RANGE:
            allowed.update(chr(x) for x in range(val[0], val[1] + 1) if chr(x) in _ALPHABET or val[1] - val[0] < 30)
        elif op is c.CATEGORY:
            allowed.update(
                {
                    c.CATEGORY_DIGIT: "0123456789",
                    c.CATEGORY_WORD: "abcdefghijklmnopqrstuvwxyz0123456789_",
                    c.CATEGORY_SPACE: " ",
                    c.CATEGORY_NOT_WORD: " '?.!",
                }.get(val, "")
            )
    pool = [ch for ch in _ALPHABET if ch not in allowed] if negate else sorted(allowed)
    return rng.choice(pool or [" "])


def _samples(pattern: re.Pattern[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    tree = parser.parse(pattern.pattern, pattern.flags)
    found = []
    for _ in range(n):
        out: list[str] = []
        _walk(tree, rng, out)
        body = "".join(out)
        text = f"{rng.choice(['', 'so ', 'and then '])}{body}{rng.choice(['', ' now', '.', ' ok?'])}"
        if pattern.search(text):
            found.append(text)
    return found


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\bsuicid(e|al)\b", {"suicid"}),
        (r"ab|cd", {"ab", "cd"}),
        (r"\bend it (tonight|today)\b(?! with)", {"end it "}),
        (r"x(?:yy)+z", {"yy"}),
    ],
)
def test_needles_of_simple_patterns(pattern: str, expected: set[str]) -> None:
    assert required_literals(re.compile(pattern)) == expected


@pytest.mark.parametrize("pattern", [r"a?b", r"(?:x|y)z", r"\d+", r"(?i)hello", r"(ab)*c", r"(?i:hello)"])
def test_no_needles_when_a_match_can_avoid_fixed_text(pattern: str) -> None:
    assert required_literals(re.compile(pattern)) is None


@pytest.mark.parametrize("rule", _ruleset().rules, ids=lambda r: r.rule_id)
def test_every_generated_match_of_a_guard_rule_contains_a_needle(rule: Any) -> None:
    assert rule.needles is not None, "a rule without needles is searched every time (slow path)"
    matches = _samples(rule.pattern, 3000, seed=zlib.crc32(rule.rule_id.encode()))
    assert len(matches) >= 50, f"the generator found too few matches of {rule.rule_id} to test it"
    for text in matches:
        assert any(n in text for n in rule.needles), (rule.rule_id, text, sorted(rule.needles))


def test_guard_decisions_do_not_change_with_the_prefilter() -> None:
    rules = _ruleset().rules
    texts = [t for i, r in enumerate(rules) for t in _samples(r.pattern, 200, seed=i)]
    texts += ["How do we argue less?", "I feel like he never listens to me when I talk about my day"]
    for text in texts:
        with_prefilter = check_prompt(text)
        norm = normalise(text)
        without = next(
            (r.rule_id for r in rules if r.pattern.search(norm) and not any(u.search(norm) for u in r.unless)), None
        )
        assert (with_prefilter.rule_id if with_prefilter else None) == without, text


@pytest.mark.parametrize("module", ["guard", "answer_judge"])
def test_needle_finder_sees_exactly_what_substring_tests_see(module: str) -> None:
    """The one-pass prefilter is only sound if it finds every needle `in` would, overlapping and
    nested ones included; `str.__contains__` per needle is the reference. Checked on the needles
    of the rules the serving path runs (the prompt guard's and the answer judge's)."""
    import importlib
    import random

    from crucible.common.regex_prefilter import NeedleFinder

    rs = importlib.import_module(f"crucible.common.{module}")._ruleset()
    rules = rs.rules if module == "guard" else [p for r in rs.scored for p in r.patterns]
    needles = sorted({n for r in rules if r.needles for n in r.needles})
    finder = NeedleFinder(needles)
    rng = random.Random(7)
    texts = ["", "how do we argue less?", "i want to kill myself tonight", "call 555-0100 or mail a@b.io"]
    for _ in range(300):  # needles glued, overlapped and cut, with filler between
        parts = [rng.choice(needles)[rng.randrange(0, 2) :] for _ in range(rng.randrange(1, 6))]
        texts.append(rng.choice(["", " ", "x", " and "]).join(parts))
    for text in texts:
        assert finder.present(text) == {n for n in needles if n in text}, text


def test_rule_index_visits_exactly_the_rules_a_needle_test_would() -> None:
    """`RuleIndex.candidates` against the reference: every rule, in order, kept when it has no
    needles or one of its needles is present."""
    from crucible.common.regex_prefilter import RuleIndex

    rng = random.Random(11)
    letters = "abcdefgh"
    for _ in range(50):
        rules = [
            frozenset(rng.sample(letters, k=rng.randint(1, 3))) if rng.random() < 0.8 else None
            for _ in range(rng.randint(0, 12))
        ]
        index = RuleIndex(rules)
        for _ in range(40):
            present = frozenset(rng.sample(letters + "xy", k=rng.randint(0, 4)))
            expected = [i for i, r in enumerate(rules) if r is None or not r.isdisjoint(present)]
            assert index.candidates(present) == expected, (rules, present)


def test_normalise_skips_the_quote_table_only_where_it_changes_nothing() -> None:
    for text in ["How  do WE\targue?", "it\u2019s \u201cfine\u201d\u00a0now", "caf\u00e9 \u2018x\u2019", ""]:
        reference = " ".join(text.translate(_QUOTES).lower().split())
        assert normalise(text) == reference, text
