"""feedback: one row per accepted response id (rating, advice accepted, outcome signals), attributed
to the variant and model that answered and to the interaction record it updates. No feedback text:
text reaches the data only through the scrubber, inside the interaction's feedback record.

Revision ID: feedback_0001
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "feedback_0001"
down_revision = "0001"
branch_labels = ("feedback",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("response_id", sa.String(length=512), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("variant", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("rollout_id", sa.String(length=64), nullable=False),
        sa.Column("stage_index", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("advice_accepted", sa.Boolean(), nullable=False),
        sa.Column("positive_outcome", sa.Boolean(), nullable=True),
        sa.Column("action_taken", sa.Boolean(), nullable=True),
        sa.Column("text_chars", sa.Integer(), nullable=False),
        sa.Column("subject_token", sa.String(length=128), nullable=False),
        sa.Column("caller", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("response_id"),
    )
    op.create_index("ix_feedback_record_id", "feedback", ["record_id"], unique=False)
    op.create_index("ix_feedback_subject_token", "feedback", ["subject_token"], unique=False)
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_feedback_created_at", table_name="feedback")
    op.drop_index("ix_feedback_subject_token", table_name="feedback")
    op.drop_index("ix_feedback_record_id", table_name="feedback")
    op.drop_table("feedback")
