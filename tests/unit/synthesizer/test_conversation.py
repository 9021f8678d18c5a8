"""Model text -> turns -> a synthetic Record."""

from __future__ import annotations

import datetime as dt

import pytest

from crucible.synthesizer.conversation import (
    ConversationError,
    Provenance,
    build_record,
    generation_facts,
    parse_turns,
    synthetic_record_id,
)
from crucible.synthesizer.loopback import conversation_text
from crucible.synthesizer.templates import conversation_prompt, load_templates, scenario_prompt
from crucible.v1 import records_pb2

PROV = Provenance(
    "plan-x", "plan-x-00001", "safety_ethics", "backup", "m", "scenario-v1+conversation-v1", 0.9, 8, "0.1.0"
)


def test_parse_keeps_alternating_turns_and_joins_continuations() -> None:
    text = (
        "Sure! Here it is:\nUser: I feel alone.\nit has been weeks\nCoach: That sounds hard.\n\n"
        "**User:** Yes.\nCoach: What helps?"
    )
    assert parse_turns(text, 4) == [
        ("user", "I feel alone. it has been weeks"),
        ("assistant", "That sounds hard."),
        ("user", "Yes."),
        ("assistant", "What helps?"),
    ]


def test_parse_rejects_what_is_not_a_conversation() -> None:
    with pytest.raises(ConversationError) as err:
        parse_turns("Once upon a time there was a couple.", 4)
    assert err.value.reason == "unparseable"
    with pytest.raises(ConversationError) as err:
        parse_turns("User: hi\nCoach: hello\nUser: unanswered", 4)
    assert err.value.reason == "too_few_turns"


def test_record_is_synthetic_with_its_provenance() -> None:
    turns = parse_turns(conversation_text(3), 4)
    rec = build_record(
        turns, {"relationship_stage": "engaged"}, PROV, secret=b"k", run_id="r", now=dt.datetime.now(dt.UTC)
    )
    assert rec.source.table == "synthetic" and rec.source.key == "plan-x-00001"
    assert rec.kind == records_pb2.RECORD_KIND_CONVERSATION
    assert rec.record_id == synthetic_record_id("plan-x-00001") and len(rec.record_id) == 32
    assert rec.context["relationship_stage"] == "engaged" and not rec.private_context
    facts = generation_facts(rec)
    assert facts == {
        "endpoint": "backup",
        "model": "m",
        "template": "scenario-v1+conversation-v1",
        "plan": "plan-x",
        "temperature": "0.9",
        "seed": "8",
    }
    assert rec.turns[0].role == "user" and rec.turns[-1].role == "assistant"


def test_templates_are_versioned_files_filled_with_the_plan_item() -> None:
    t = load_templates("v1")
    assert t.names() == "scenario-v1+conversation-v1"
    prompt = scenario_prompt(t, "safety_ethics", {"age_band": "55-64"})
    assert "safety concern" in prompt and "age of the person: 55-64" in prompt
    assert "You and your partner argue." in conversation_prompt(
        t, "personalization", {}, "You and your partner argue.", 6
    )
    with pytest.raises(ValueError, match="no prompt template"):
        load_templates("v99")
