"""scorer: versioned diversity snapshots and the snapshot each record was scored against

Revision ID: scorer_0001
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "scorer_0001"
down_revision = "0001"
branch_labels = ("scorer",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scorer_diversity_snapshots",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_table(
        "scorer_diversity_decisions",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("observed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_scorer_diversity_decisions_version", "scorer_diversity_decisions", ["version"], unique=False)
    op.create_index(
        "ix_scorer_diversity_decisions_record_id", "scorer_diversity_decisions", ["record_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_scorer_diversity_decisions_record_id", table_name="scorer_diversity_decisions")
    op.drop_index("ix_scorer_diversity_decisions_version", table_name="scorer_diversity_decisions")
    op.drop_table("scorer_diversity_decisions")
    op.drop_table("scorer_diversity_snapshots")
