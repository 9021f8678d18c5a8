"""The demo app database: deterministic, shaped like the app, with what later stages must
handle planted at realistic rates."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3

import pytest

from crucible.extractor.demo.generator import generate_demo, small_edit, write_demo

ANCHOR = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def demo():
    return generate_demo(users=120, seed=42, anchor=ANCHOR)


def test_same_seed_same_database_other_seed_differs(demo):
    again = generate_demo(users=120, seed=42, anchor=ANCHOR)
    assert again.tables == demo.tables
    other = generate_demo(users=120, seed=43, anchor=ANCHOR)
    assert other.tables["checkins"] != demo.tables["checkins"]


def test_every_table_is_populated_and_consistent(demo):
    t = demo.tables
    assert len(t["users"]) == 120 - demo.planted["deleted_users"] and demo.planted["deleted_users"] >= 1
    assert len(t["couples"]) == 60
    for name in ("checkins", "activities", "quiz_results", "conversations", "messages", "feedback"):
        assert len(t[name]) > 50, name
        assert len({r["id"] for r in t[name]}) == len(t[name]), f"{name} ids are unique"
    per_conv: dict[int, list[str]] = {}
    for m in t["messages"]:
        per_conv.setdefault(m["conversation_id"], []).append(m["role"])
    assert set(per_conv) == {c["id"] for c in t["conversations"]}
    assert all(2 <= len(roles) <= 8 and roles[0] == "user" for roles in per_conv.values())
    assert all(1 <= r["helpfulness"] <= 10 for r in t["feedback"])
    links = ("checkin_id", "conversation_id", "activity_id")
    assert all(sum(r[c] is not None for c in links) == 1 for r in t["feedback"])
    assert {c for r in t["feedback"] for c in links if r[c] is not None} == set(links)
    assert {c["relationship_stage"] for c in t["couples"]} == {"early", "established", "long_term"}
    assert len({u["culture"] for u in t["users"]}) >= 6
    assert {"es", "de", "fr", "en"} <= {u["language"] for u in t["users"]}


def test_timestamps_span_45_days_so_a_30_day_window_matters(demo):
    times = [r["created_at"] for r in demo.tables["checkins"]]
    assert max(times) < ANCHOR
    assert min(times) < ANCHOR - dt.timedelta(days=40)
    older = sum(t < ANCHOR - dt.timedelta(days=30) for t in times)
    assert 0.15 < older / len(times) < 0.5


def test_planted_rates_are_realistic(demo):
    texts = [r["reflection"] for r in demo.tables["checkins"]] + [m["content"] for m in demo.tables["messages"]]
    n = len(demo.tables["checkins"]) + len(demo.tables["conversations"])
    crisis = demo.planted["crisis_self_harm"] + demo.planted["crisis_abuse"]
    assert 0.01 < crisis / n < 0.05
    assert 0.03 < demo.planted["near_duplicates"] / n < 0.08
    assert 0.02 < demo.planted["non_english"] / n < 0.12
    assert 0.03 < demo.planted["low_quality"] / n < 0.1
    crisis_words = re.compile(
        r"hurting myself|ending it|pills|pushed me|threatened to hurt|scared to go home|"
        r"better off without me|not waking up|violent|afraid of|locked me out|won't let me"
    )
    assert sum(bool(crisis_words.search(x)) for x in texts) >= crisis * 0.8


def test_personal_details_appear_inside_free_text(demo):
    users = demo.tables["users"]
    emails = {u["email"] for u in users}
    first_names = {u["first_name"] for u in users}
    workplaces = {u["workplace"] for u in users}
    texts = [r["reflection"] + " " + r["ai_reply"] for r in demo.tables["checkins"]]
    with_email = sum(any(e in x for e in emails) for x in texts)
    with_name = sum(any(f" {n} " in f" {x} " or f"{n}," in x or f"{n}'s" in x for n in first_names) for x in texts)
    with_workplace = sum(any(w in x for w in workplaces) for x in texts)
    assert 0.003 < with_email / len(texts) < 0.05
    assert with_name / len(texts) > 0.25
    assert with_workplace > 0


def test_quiz_answers_are_json_except_the_planted_bad_rows(demo):
    bad = 0
    for r in demo.tables["quiz_results"]:
        try:
            assert isinstance(json.loads(r["answers"]), dict)
        except json.JSONDecodeError:
            bad += 1
        assert (r["result_summary"] is not None) == r["completed"]
    assert bad == demo.planted["bad_json"]


def test_small_edit_is_small_but_not_identical():
    import random

    rng = random.Random(1)
    text = "Honestly today was a really good day. We cooked together and danced in the kitchen."
    for _ in range(50):
        edited = small_edit(text, rng)
        assert edited != text
        assert abs(len(edited) - len(text)) < 25


def test_write_demo_to_sqlite(tmp_path):
    path = tmp_path / "demo.db"
    summary = write_demo(path, users=10, seed=1, anchor=ANCHOR)
    with sqlite3.connect(path) as conn:
        for table, count in summary["tables"].items():
            assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == count
    assert summary["users"] == 10 and "planted" in summary
    write_demo(path, users=12, seed=1, anchor=ANCHOR)  # replaces, never appends
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM couples").fetchone()[0] == 6


def test_feedback_follows_the_quality_of_the_reply(demo):
    replies = {r["id"]: r["ai_reply"] or "" for r in demo.tables["checkins"]}
    rated = [(len(replies[f["checkin_id"]]), f["helpfulness"]) for f in demo.tables["feedback"] if f["checkin_id"]]
    short = [h for n, h in rated if n < 40]
    full = [h for n, h in rated if n >= 40]
    assert short and full and sum(short) / len(short) + 2 < sum(full) / len(full)


def test_the_text_fragments_are_package_data_read_once_and_frozen() -> None:
    from importlib.resources import files

    from crucible.extractor.demo.fragments import fragments

    assert files("crucible.extractor.demo").joinpath("fragments.json").is_file()
    txt = fragments()
    assert fragments() is txt
    assert isinstance(txt.TOPICS, tuple) and isinstance(txt.POSITIVE_MOODS, frozenset)
    assert all(isinstance(v, tuple) for v in txt.CHECKIN_EVENTS.values())
    assert all(isinstance(pair, tuple) and len(pair) == 2 for pair in txt.CONVO_FOLLOWUPS)


def test_extraction_code_never_imports_the_demo() -> None:
    import ast
    from pathlib import Path

    import crucible.extractor

    root = Path(crucible.extractor.__file__).parent
    for name in ("extraction.py", "mapping.py", "source.py", "watermarks.py"):
        for node in ast.walk(ast.parse((root / name).read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(n.startswith("crucible.extractor.demo") for n in names), (name, names)
