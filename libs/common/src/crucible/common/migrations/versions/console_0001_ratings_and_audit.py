"""web console: human ratings per (sample, item, rater) and the audit log of console actions

Revision ID: console_0001
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "console_0001"
down_revision = "0001"
branch_labels = ("console",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "human_ratings",
        sa.Column("sample_id", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=128), nullable=False),
        sa.Column("rater", sa.String(length=128), nullable=False),
        sa.Column("preferred", sa.String(length=8), nullable=False),
        sa.Column("ratings", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sample_id", "item_id", "rater"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("human_ratings")
