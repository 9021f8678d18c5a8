"""The demo app database's schema (SQLAlchemy Core), shaped like the seeds' app: users in
couples, daily check-ins, date activities, quizzes, AI coaching conversations, feedback.

No foreign keys on `user_id` columns on purpose: like many app databases, deleting an
account leaves its rows behind, which the extractor must report rather than crash on.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("email", String(200)),
    Column("phone", String(50)),
    Column("street_address", String(200)),
    Column("city", String(100)),
    Column("country", String(100)),
    Column("workplace", String(200)),
    Column("birth_year", Integer),
    Column("gender", String(32)),
    Column("language", String(8)),
    Column("culture", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

couples = Table(
    "couples",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_a_id", Integer, nullable=False, index=True),
    Column("user_b_id", Integer, nullable=False, index=True),
    Column("relationship_stage", String(32)),
    Column("relationship_type", String(32)),
    Column("since", Date),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

checkins = Table(
    "checkins",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("couple_id", Integer),
    Column("mood", String(32)),
    Column("connection_score", Integer),
    Column("reflection", Text),
    Column("ai_reply", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_checkins_created", "created_at", "id"),
)

activities = Table(
    "activities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("couple_id", Integer),
    Column("user_id", Integer, nullable=False),
    Column("activity_type", String(32)),
    Column("title", String(200)),
    Column("feedback_text", Text),
    Column("satisfaction_rating", Integer),
    Column("ai_suggestion", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_activities_created", "created_at", "id"),
)

quiz_results = Table(
    "quiz_results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("quiz_name", String(100)),
    Column("answers", Text),  # JSON object: question -> answer
    Column("result_summary", Text),
    Column("completed", Boolean),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_quiz_results_created", "created_at", "id"),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("couple_id", Integer),
    Column("topic", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_conversations_created", "created_at", "id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", Integer, ForeignKey("conversations.id"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("role", String(16), nullable=False),  # user | assistant
    Column("content", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, nullable=False),
    # Exactly one of these: what the feedback rates.
    Column("checkin_id", Integer, index=True),
    Column("conversation_id", Integer, index=True),
    Column("activity_id", Integer, index=True),
    Column("helpfulness", Integer),
    Column("action_taken", Boolean),
    Column("positive_outcome", Boolean),
    Column("comment", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_feedback_created", "created_at", "id"),
)
