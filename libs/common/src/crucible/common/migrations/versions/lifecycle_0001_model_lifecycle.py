"""model lifecycle: serving pool per model, one serving model per pool, transition log

Revision ID: lifecycle_0001
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "lifecycle_0001"
down_revision = "0001"
branch_labels = ("lifecycle",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pool", sa.String(length=64), nullable=False, server_default="default"))
        batch_op.add_column(sa.Column("rollouts", sa.JSON(), nullable=False, server_default="[]"))
    # Rows written before the lifecycle existed may hold several `serving` models; keep the newest.
    op.execute(
        "UPDATE models SET status = 'retired' WHERE status = 'serving' AND seq < "
        "(SELECT MAX(seq) FROM models WHERE status = 'serving')"
    )
    op.create_index(
        "uq_models_one_serving_per_pool",
        "models",
        ["pool"],
        unique=True,
        sqlite_where=sa.text("status = 'serving'"),
        postgresql_where=sa.text("status = 'serving'"),
    )
    op.create_table(
        "model_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=False),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_model_transitions_model_name", "model_transitions", ["model_name"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_model_transitions_model_name", table_name="model_transitions")
    op.drop_table("model_transitions")
    op.drop_index("uq_models_one_serving_per_pool", table_name="models")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_column("rollouts")
        batch_op.drop_column("pool")
