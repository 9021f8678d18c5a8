"""Bad and missing signals are handled with a reason, never a crash; turns are read by speaker."""

from __future__ import annotations

import math

import pytest
from scorer_helpers import make_record

from crucible.scorer.record_view import check_signals, effective_threshold, view_record
from crucible.v1 import records_pb2


@pytest.mark.parametrize("value", [42.0, 0.0, -3.0, math.nan, math.inf])
def test_out_of_range_satisfaction_is_unknown_with_a_reason(value: float) -> None:
    checked = check_signals(make_record("r", "hi", "hello", satisfaction=value))
    assert checked.satisfaction is None
    assert checked.invalid == {"satisfaction": 1.0}
    assert len(checked.issues) == 1 and "satisfaction" in checked.issues[0]


def test_missing_signals_are_unknown_without_complaint() -> None:
    checked = check_signals(make_record("r", "hi", "hello"))
    assert (checked.satisfaction, checked.action_taken, checked.positive_outcome) == (None, None, None)
    assert checked.issues == []


def test_false_is_not_unknown() -> None:
    checked = check_signals(make_record("r", "hi", "hello", action_taken=False, satisfaction=10.0))
    assert checked.action_taken is False and checked.satisfaction == 10.0


def test_turns_pairs_and_issues() -> None:
    record = records_pb2.Record(record_id="c")
    record.turns.add(role="system", text="You are a coach.")
    record.turns.add(role="user", text="First question?")
    record.turns.add(role="assistant", text="A" * 40)
    record.turns.add(role="partner", text="And me?")
    record.turns.add(role="assistant", text="B" * 80)
    record.turns.add(role="user", text="   ")
    view = view_record(record, max_turns=24)
    assert [r for r, _ in view.turns] == ["user", "assistant", "user", "assistant"]
    assert view.pairs == [(0, 1), (2, 3)]
    assert view.turn_count == 5  # the system prompt counts as a turn of the conversation, the blank one does not
    assert view.reply_chars == 60.0
    assert any("empty turn" in i for i in view.issues)


def test_a_record_without_reply_or_user_says_so() -> None:
    assert "no assistant reply" in view_record(make_record("r", "hello?", None), 24).issues
    assert "no user turn" in view_record(make_record("r", None, "hi there"), 24).issues
    empty = view_record(records_pb2.Record(record_id="e"), 24)
    assert empty.turns == [] and empty.pairs == []


def test_long_conversations_encode_the_latest_turns() -> None:
    record = records_pb2.Record(record_id="long")
    for i in range(30):
        record.turns.add(role="user" if i % 2 == 0 else "assistant", text=f"turn {i}")
    view = view_record(record, max_turns=6)
    assert [t for _, t in view.turns] == [f"turn {i}" for i in range(24, 30)]
    assert view.turn_count == 30


def test_extraction_threshold_overrides_the_policy_only_when_set() -> None:
    record = make_record("r", "hi", "hello")
    assert effective_threshold(record, 7.0) == 7.0
    record.extraction.min_quality = 5.5
    assert effective_threshold(record, 7.0) == 5.5
    record.extraction.min_quality = 0.0
    assert effective_threshold(record, 7.0) == 7.0
    record.extraction.min_quality = 99
    assert effective_threshold(record, 7.0) == 7.0


def test_helpfulness_stands_in_for_missing_satisfaction() -> None:
    rec = make_record("r", "hi", "hello")
    rec.signals.helpfulness = 9.0
    checked = check_signals(rec)
    assert checked.satisfaction == 9.0 and checked.from_helpfulness
    rec.signals.satisfaction = 4.0  # the app's own satisfaction wins when present
    checked = check_signals(rec)
    assert checked.satisfaction == 4.0 and not checked.from_helpfulness
    bad = make_record("r", "hi", "hello")
    bad.signals.helpfulness = 42.0
    checked = check_signals(bad)
    assert checked.satisfaction is None and checked.invalid == {"helpfulness": 1.0}
