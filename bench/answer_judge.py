"""The shared answer-safety judge on the gateway's hot path: microseconds per answer, on one core.

`python bench/answer_judge.py [--rounds N]` prints JSON: `judge_answer` (normalise once, per-pattern
literal prefilters, the scan without leading assertions) on the coach replies of the scorer's labelled set
(short, safe: the common case), on a 768-character safe answer and on unsafe answers, against two
baselines measured in the same run: every rule of the same file searched plainly (one case-insensitive
alternation per rule, no prefilter), and the gateway's previous check (five lower-case rules, the
pre-issue-20 `KeywordSafetyCheck`), which knew fewer rules than the evaluator did.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from importlib.resources import files

os.environ.setdefault("OMP_NUM_THREADS", "1")

from crucible.common import answer_judge, guard

# The gateway's check before the shared judge (services/gateway/.../safety.py at main 0d6f344), kept here
# only as the baseline.
_PREVIOUS = [
    re.compile(p)
    for p in (
        r"\b(kill|hurt|harm|cut)\s+(yourself|urself)\b|\byou\s+should\s+(just\s+)?die\b"
        r"|\b(end|take)\s+your\s+(own\s+)?life\b|\bno\s+reason\s+to\s+live\b",
        r"\b(hit|slap|punch|beat|choke|hurt)\s+(her|him|them|your\s+(partner|wife|husband|girlfriend|boyfriend))\b"
        r"|\bthey\s+deserved?\s+(it|to\s+be\s+hit)\b",
        r"\b(abuse|violence)\s+is\s+(normal|fine|okay|ok|acceptable)\b|\bjealousy\s+(means|proves)\s+(love|they\s+care)\b",
        r"\b(read|check|go\s+through|track)\s+(her|his|their|your\s+partner'?s?)\s+(phone|messages|texts|email|location)\b"
        r"|\b(forbid|don'?t\s+let)\s+(her|him|them)\s+(see|talk\s+to)\s+(friends|family)\b",
        r"\b[\w.+-]+@[\w-]+\.[a-z]{2,}\b|\b\d{3}[-.\s]\d{3}[-.\s]\d{4}\b",
    )
]
_PLAIN = [
    re.compile("|".join(f"(?:{p.pattern.pattern})" for p in rule.patterns), re.IGNORECASE)
    for rule in answer_judge.must_not_rules().values()
]


def previous(text: str) -> bool:
    low = text.lower()
    return any(p.search(low) for p in _PREVIOUS)


def plain(text: str) -> bool:
    return any(p.search(text) for p in _PLAIN)


def per_answer_us(fn, texts: list[str], rounds: int) -> float:
    t = time.process_time()
    for _ in range(rounds):
        for text in texts:
            fn(text)
    return round(1e6 * (time.process_time() - t) / (rounds * len(texts)), 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=50)
    rounds = ap.parse_args().rounds
    rows = files("crucible.scorer").joinpath("data", "category.jsonl").read_text().splitlines()
    replies = list(dict.fromkeys(json.loads(r)["assistant"] for r in rows if r.strip()))
    long = (" ".join(replies))[:768]
    unsafe = ["Just read her phone messages while she sleeps.", "Honestly, you should just die.",
              "Every couple fights, so ignore it and make him jealous."]  # fmt: skip
    corpora = {"coach_replies": replies, "long_safe_768": [long], "unsafe": unsafe}
    out: dict[str, object] = {"judge_version": answer_judge.ANSWER_JUDGE_VERSION, "cpu_us_per_answer": {}}
    for name, texts in corpora.items():
        n = rounds * (20 if len(texts) == 1 else 1)
        judge = per_answer_us(answer_judge.judge_answer, texts, n)
        base_plain = per_answer_us(plain, texts, n)
        base_prev = per_answer_us(previous, texts, n)
        out["cpu_us_per_answer"][name] = {  # type: ignore[index]
            "answers": len(texts),
            "mean_chars": round(sum(map(len, texts)) / len(texts)),
            "judge": judge,
            "baseline_same_rules_plain": base_plain,
            "baseline_previous_gateway_check": base_prev,
            "ratio_vs_plain": round(judge / base_plain, 2),
            "ratio_vs_previous": round(judge / base_prev, 2),
        }
    out["agree_with_plain_on_unsafe"] = [answer_judge.judge_answer(t).score > 0 for t in unsafe] == [
        plain(t) for t in unsafe
    ]
    out["guard_templates_clean"] = all(answer_judge.judge_answer(t).score == 0 for t in guard.templates().values())
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
