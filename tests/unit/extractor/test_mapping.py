"""The pure row -> Record mapping: each kind, the conventions, and per-row failures."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from crucible.extractor.mapping import (
    Couple,
    ExtractionContext,
    MappingError,
    Person,
    SourceRow,
    age_band,
    map_row,
    map_rows,
    record_id,
    subject_token,
)
from crucible.v1 import records_pb2

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
CTX = ExtractionContext("sqlite:///demo.db", b"secret", "run-1", NOW, 7.0, "0.1.0")
USER = Person(
    "17",
    "Tomasz",
    "Okonkwo",
    "tomasz@example.com",
    "+1 555 0100",
    "1 Main St",
    "Acme Ltd",
    1990,
    "male",
    "en",
    "british",
)
PARTNER = Person(
    "18", "Ximena", "Diaz", "xd@example.com", "555-0199", "1 Main St", "Globex", 1992, "female", "es", "latin_american"
)
COUPLE = Couple("established", "cohabiting")
CREATED = dt.datetime(2026, 11, 10, 20, 30)


def row(table: str, **values):
    base = {"id": 5, "user_id": 17, "created_at": CREATED}
    base.update(values)
    return SourceRow(table, base, USER, PARTNER, COUPLE)


def test_checkin_takes_signals_from_its_feedback():
    src = row("checkins", reflection="We talked.", ai_reply="Lovely, keep it going.")
    src.feedback = [{"id": 3, "helpfulness": 8, "action_taken": True, "positive_outcome": True, "created_at": CREATED}]
    rec = map_row(src, CTX)
    assert rec.signals.helpfulness == 8.0 and rec.signals.action_taken and rec.signals.positive_outcome


def test_checkin_maps_to_two_turns_with_context_and_private_names():
    rec = map_row(
        row(
            "checkins",
            reflection="Ximena and I talked.",
            ai_reply="That sounds lovely.",
            mood="good",
            connection_score=8,
        ),
        CTX,
    )
    assert rec.kind == records_pb2.RECORD_KIND_CHECKIN
    assert rec.record_id == record_id("checkins", "5")
    assert rec.source.table == "checkins" and rec.source.key == "5" and rec.source.database == CTX.database
    assert [(t.role, t.text) for t in rec.turns] == [
        ("user", "Ximena and I talked."),
        ("assistant", "That sounds lovely."),
    ]
    assert rec.context["relationship_stage"] == "established"
    assert rec.context["relationship_type"] == "cohabiting"
    assert rec.context["age_band"] == "35-44"
    assert rec.context["gender_user"] == "male" and rec.context["gender_partner"] == "female"
    assert rec.context["language"] == "en" and rec.context["culture"] == "british"
    assert rec.context["mood"] == "good" and rec.context["connection_score"] == "8"
    entities = json.loads(rec.private_context["known_entities"])
    assert entities == {"User": ["Tomasz Okonkwo", "Tomasz", "Okonkwo"], "Partner": ["Ximena Diaz", "Ximena", "Diaz"]}
    identifiers = json.loads(rec.private_context["known_identifiers"])
    assert identifiers == [
        "tomasz@example.com",
        "+1 555 0100",
        "1 Main St",
        "Acme Ltd",
        "xd@example.com",
        "555-0199",
        "Globex",
    ]  # the shared address once
    assert rec.created_at.ToDatetime(tzinfo=dt.UTC) == CREATED.replace(tzinfo=dt.UTC)
    assert [(p.stage, p.version) for p in rec.provenance] == [("extractor", "0.1.0")]
    assert rec.extraction.run_id == "run-1" and rec.extraction.min_quality == 7.0
    # No identifying value leaks into the non-private parts.
    public = rec.SerializeToString().replace(rec.private_context["known_entities"].encode(), b"")
    assert b"tomasz@example.com" not in public.replace(rec.private_context["known_identifiers"].encode(), b"")


def test_subject_token_is_hmac_of_user_id_stable_and_never_the_id():
    rec = map_row(row("checkins", reflection="hi there", ai_reply="hello"), CTX)
    again = map_row(row("checkins", id=6, reflection="other", ai_reply="x"), CTX)
    assert rec.subject_token == again.subject_token == subject_token(b"secret", "17")
    assert len(rec.subject_token) == 64 and rec.subject_token != "17" and "17" != rec.subject_token[:2]
    other_secret = ExtractionContext(CTX.database, b"other", "r", NOW, 7.0, "0.1.0")
    assert map_row(row("checkins", reflection="hi", ai_reply="x"), other_secret).subject_token != rec.subject_token


def test_activity_carries_satisfaction_and_linked_feedback_signals():
    src = row(
        "activities",
        feedback_text="Loved the hike",
        ai_suggestion="Try a picnic next.",
        satisfaction_rating=9,
        activity_type="outdoors",
        title="Sunset hike",
    )
    src.feedback = [
        {"id": 1, "helpfulness": 4, "action_taken": False, "positive_outcome": False, "created_at": CREATED},
        {
            "id": 2,
            "helpfulness": 8,
            "action_taken": 1,
            "positive_outcome": 1,
            "created_at": CREATED + dt.timedelta(hours=1),
        },
    ]
    rec = map_row(src, CTX)
    assert rec.kind == records_pb2.RECORD_KIND_ACTIVITY
    assert rec.signals.satisfaction == 9.0
    assert rec.signals.helpfulness == 8.0  # the latest feedback row wins
    assert rec.signals.action_taken is True and rec.signals.positive_outcome is True
    assert rec.context["activity_type"] == "outdoors" and rec.context["activity_title"] == "Sunset hike"


def test_unknown_signals_stay_unset():
    rec = map_row(row("activities", feedback_text="ok", ai_suggestion="", satisfaction_rating=None), CTX)
    assert not rec.signals.HasField("satisfaction") and not rec.signals.HasField("helpfulness")
    assert not rec.signals.HasField("action_taken")


def test_quiz_renders_answers_and_summary():
    answers = {"How do you most like to be shown love?": "quality time", "What hurts most?": "being ignored"}
    rec = map_row(
        row(
            "quiz_results",
            quiz_name="Love Languages",
            answers=json.dumps(answers),
            result_summary="Your love language is quality time.",
            completed=1,
        ),
        CTX,
    )
    assert rec.kind == records_pb2.RECORD_KIND_QUIZ
    assert "quality time" in rec.turns[0].text and "Love Languages" in rec.turns[0].text
    assert rec.turns[1].text == "Your love language is quality time."
    assert rec.context["quiz_name"] == "Love Languages" and rec.context["quiz_completed"] == "true"


def test_conversation_keeps_every_message_in_order_with_feedback():
    src = row("conversations", topic="conflict")
    src.messages = [
        {"id": 3, "seq": 2, "role": "user", "content": "What if they get defensive?"},
        {"id": 1, "seq": 0, "role": "user", "content": "We keep fighting."},
        {"id": 2, "seq": 1, "role": "ai", "content": "That sounds hard."},
        {"id": 4, "seq": 3, "role": "assistant", "content": "Start with appreciation."},
    ]
    src.feedback = [{"id": 9, "helpfulness": 9, "action_taken": True, "positive_outcome": True, "created_at": CREATED}]
    rec = map_row(src, CTX)
    assert rec.kind == records_pb2.RECORD_KIND_CONVERSATION
    assert [t.role for t in rec.turns] == ["user", "assistant", "user", "assistant"]
    assert rec.turns[0].text == "We keep fighting." and rec.turns[1].speaker == "coach"
    assert rec.context["topic"] == "conflict"
    assert rec.signals.helpfulness == 9.0 and rec.signals.positive_outcome is True


def test_feedback_row_links_to_the_rated_record():
    rec = map_row(
        row(
            "feedback",
            helpfulness=7,
            action_taken=True,
            positive_outcome=False,
            comment="Helpful!",
            conversation_id=42,
            activity_id=None,
        ),
        CTX,
    )
    assert rec.kind == records_pb2.RECORD_KIND_FEEDBACK
    assert rec.signals.helpfulness == 7.0 and rec.signals.action_taken and not rec.signals.positive_outcome
    assert rec.context["feedback_on"] == "conversations"
    assert rec.context["feedback_on_record"] == record_id("conversations", "42")
    assert [t.text for t in rec.turns] == ["Helpful!"]
    silent = map_row(row("feedback", helpfulness=3, comment=None, checkin_id=None, activity_id=4), CTX)
    on_checkin = map_row(row("feedback", helpfulness=9, comment="", checkin_id=8), CTX)
    assert on_checkin.context["feedback_on_record"] == record_id("checkins", "8")
    assert len(silent.turns) == 0 and silent.context["feedback_on"] == "activities"


@pytest.mark.parametrize(
    ("table", "values", "reason"),
    [
        ("checkins", {"reflection": "  ", "ai_reply": "hi"}, "empty_text"),
        ("checkins", {"reflection": "hi", "ai_reply": "x", "created_at": "yesterday-ish"}, "bad_timestamp"),
        ("checkins", {"reflection": "hi", "ai_reply": "x", "id": None}, "missing_key"),
        ("activities", {"feedback_text": "ok", "satisfaction_rating": 42}, "invalid_rating"),
        ("activities", {"feedback_text": "ok", "satisfaction_rating": "great"}, "invalid_rating"),
        ("quiz_results", {"quiz_name": "Q", "answers": '{"a": "b'}, "bad_json"),
        ("quiz_results", {"quiz_name": "Q", "answers": "[1, 2]"}, "bad_json"),
        ("conversations", {}, "no_messages"),
        ("feedback", {"helpfulness": 0}, "invalid_rating"),
    ],
)
def test_unmappable_rows_fail_with_a_reason(table, values, reason):
    with pytest.raises(MappingError) as err:
        map_row(row(table, **values), CTX)
    assert err.value.reason == reason
    assert "Tomasz" not in err.value.detail and "tomasz@" not in err.value.detail


def test_unknown_user_and_unknown_role_fail():
    orphan = SourceRow("checkins", {"id": 1, "user_id": 99, "created_at": CREATED, "reflection": "x", "ai_reply": "y"})
    bad_role = row("conversations")
    bad_role.messages = [{"id": 1, "seq": 0, "role": "moderator", "content": "hi"}]
    out = map_rows([orphan, bad_role], CTX)
    assert out.records == []
    assert [(f.table, f.key, f.reason) for f in out.failures] == [
        ("checkins", "1", "unknown_user"),
        ("conversations", "5", "unknown_role"),
    ]


def test_map_rows_never_raises_and_counts_every_row():
    weird = row("conversations")
    weird.messages = [{"id": 1, "seq": "not-a-number", "role": "user", "content": "hi"}]
    good = row("checkins", id=7, reflection="fine day", ai_reply="Glad to hear it.")
    out = map_rows([weird, good], CTX)
    assert len(out.records) + len(out.failures) == 2
    assert out.failures[0].reason == "unmappable" and "not-a-number" not in out.failures[0].detail


def test_partner_unknown_leaves_partner_out():
    src = SourceRow(
        "checkins",
        {"id": 1, "user_id": 17, "created_at": CREATED, "reflection": "x", "ai_reply": "y"},
        USER,
        None,
        None,
    )
    rec = map_row(src, CTX)
    assert set(json.loads(rec.private_context["known_entities"])) == {"User"}
    assert "gender_partner" not in rec.context and "relationship_stage" not in rec.context


def test_age_bands():
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert [age_band(y, at) for y in (2010, 2005, 1995, 1985, 1975, 1965, 1950, None)] == [
        "under_18",
        "18-24",
        "25-34",
        "35-44",
        "45-54",
        "55-64",
        "65+",
        "",
    ]


def test_cli_names_the_same_tables_as_the_source():
    from crucible.extractor.cli import EXTRACTABLE
    from crucible.extractor.mapping import KINDS
    from crucible.extractor.source import SOURCE_TABLES

    assert tuple(SOURCE_TABLES) == EXTRACTABLE and set(KINDS) == set(EXTRACTABLE)
