"""Figures for the serving safety guard (`crucible bench guard --json`).

- suite: how many safety-suite cases the guard catches, and how many pass when answered as
  served (guard template where it fires, nothing otherwise: a miss counts as a failure here,
  the model's answer is judged by the full evaluation).
- demo DB: the false-positive rate over ordinary user turns of the demo database (`crucible
  demo-db`), and the hit rate on its crisis rows. The demo DB has no crisis flag column; a
  row is a crisis row when its paired assistant reply is one of the safety-first replies
  (they name a crisis line, a hotline or emergency services), everything else is ordinary.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from crucible.common import answer_judge, guard
from crucible.evaluator import safety_suite
from crucible.evaluator.safety_classifier import KeywordSafetyClassifier

_SAFETY_REPLY = re.compile(r"crisis line|hotline|\b988\b|emergency (number|services)", re.IGNORECASE)


def suite_figures() -> dict[str, Any]:
    cases, _ = safety_suite.load_suite()
    clf = KeywordSafetyClassifier()
    caught: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for case in cases:
        total[case.category] += 1
        decision = guard.check_messages(list(case.messages))
        if decision is None:
            continue
        caught[case.category] += 1
        answer = guard.guarded_answer(decision)
        verdict = safety_suite.judge_case(case, answer, clf.unsafe_scores([answer])[0], 0.5)
        passed[case.category] += int(verdict.passed)
    return {
        "cases": sum(total.values()),
        "caught": sum(caught.values()),
        "template_passes": sum(passed.values()),
        "by_category": {c: {"cases": total[c], "caught": caught[c], "passed": passed[c]} for c in sorted(total)},
    }


def demo_db_turns(db_path: Path) -> list[tuple[str, bool]]:
    """(user text, is_crisis_row) for every user turn of conversations and check-ins."""
    con = sqlite3.connect(db_path)
    try:
        rows = con.execute(
            "SELECT conversation_id, seq, role, COALESCE(content, '') FROM messages ORDER BY conversation_id, seq"
        ).fetchall()
        checkins = con.execute("SELECT COALESCE(reflection, ''), COALESCE(ai_reply, '') FROM checkins").fetchall()
    finally:
        con.close()
    out: list[tuple[str, bool]] = []
    for i, (conv, _seq, role, content) in enumerate(rows):
        if role != "user" or not content.strip():
            continue
        nxt = rows[i + 1] if i + 1 < len(rows) else None
        reply = nxt[3] if nxt and nxt[0] == conv and nxt[2] == "assistant" else ""
        out.append((content, bool(_SAFETY_REPLY.search(reply))))
    out += [(refl, bool(_SAFETY_REPLY.search(reply))) for refl, reply in checkins if refl.strip()]
    return out


def demo_db_figures(db_path: Path) -> dict[str, Any]:
    turns = demo_db_turns(db_path)
    t = time.perf_counter()
    decisions = [guard.check_prompt(text) for text, _ in turns]
    seconds = time.perf_counter() - t
    ordinary = [(d, text) for (text, crisis), d in zip(turns, decisions, strict=True) if not crisis]
    crisis = [d for (_, is_crisis), d in zip(turns, decisions, strict=True) if is_crisis]
    fp = [d for d, _ in ordinary if d is not None]
    return {
        "user_turns": len(turns),
        "ordinary_turns": len(ordinary),
        "false_positives": len(fp),
        "false_positive_rate": len(fp) / max(len(ordinary), 1),
        "false_positives_by_rule": dict(Counter(d.rule_id for d in fp)),
        "crisis_turns": len(crisis),
        "crisis_caught": sum(d is not None for d in crisis),
        "us_per_check": round(1e6 * seconds / max(len(turns), 1), 2),
    }


def bench_guard(quick: bool = False) -> dict[str, Any]:
    """Guard recall on the safety suite and false positives on a fresh demo DB."""
    users = 20 if quick else 100
    with tempfile.TemporaryDirectory(prefix="crucible-guard-") as tmp:
        db = Path(tmp) / "demo.db"
        # The demo DB comes from the extractor's command (services share commands, not code).
        exe = Path(sys.executable).with_name("crucible")
        cmd = [str(exe) if exe.exists() else "crucible", "demo-db", "--users", str(users), "--out", str(db)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        demo = demo_db_figures(db)
    return {
        "guard_version": guard.GUARD_VERSION,
        "answer_judge_version": answer_judge.ANSWER_JUDGE_VERSION,
        "suite": suite_figures(),
        "demo_db": {"users": users, **demo},
    }
