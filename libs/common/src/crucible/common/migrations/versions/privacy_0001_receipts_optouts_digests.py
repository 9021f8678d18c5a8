"""privacy: forgotten subjects by digest, the opt-out list, the append-only receipt log

Revision ID: privacy_0001
Revises: 0001
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "privacy_0001"
down_revision = "0001"
branch_labels = ("privacy",)
depends_on = None

# The same digest as crucible.common.privacy_keys.subject_digest (a migration never imports app code).
_DIGEST_PREFIX = b"crucible-subject-digest\x00"


def _digest(token: str) -> str:
    return hashlib.sha256(_DIGEST_PREFIX + token.encode()).hexdigest()


def upgrade() -> None:
    conn = op.get_bind()
    # Typed columns, so SQLite's stored text comes back as datetimes for the insert below.
    old = sa.table(
        "forgotten_subjects",
        sa.column("subject_token", sa.String()),
        sa.column("forgotten_at", sa.DateTime(timezone=True)),
        sa.column("removed_records", sa.Integer()),
    )
    rows = conn.execute(sa.select(old.c.subject_token, old.c.forgotten_at, old.c.removed_records)).all()
    op.drop_table("forgotten_subjects")
    table = op.create_table(
        "forgotten_subjects",
        sa.Column("subject_digest", sa.String(length=128), primary_key=True),
        sa.Column("forgotten_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_records", sa.Integer(), nullable=False),
    )
    if rows:
        # The raw tokens held until now become their digests: the token itself must not outlive forget.
        op.bulk_insert(
            table,
            [{"subject_digest": _digest(t), "forgotten_at": at, "removed_records": n} for t, at, n in rows],
        )
    op.create_table(
        "opted_out_subjects",
        sa.Column("subject_digest", sa.String(length=128), primary_key=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False, server_default=""),
    )
    op.create_table(
        "privacy_receipts",
        sa.Column("receipt_id", sa.String(length=64), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject_digest", sa.String(length=128), nullable=False, server_default=""),
        sa.Column("requested_by", sa.String(length=128), nullable=False, server_default=""),
        sa.Column("receipt", sa.JSON(), nullable=False),
    )
    op.create_index("ix_privacy_receipts_at", "privacy_receipts", ["at"])
    op.create_index("ix_privacy_receipts_subject_digest", "privacy_receipts", ["subject_digest"])


def downgrade() -> None:
    op.drop_index("ix_privacy_receipts_subject_digest", table_name="privacy_receipts")
    op.drop_index("ix_privacy_receipts_at", table_name="privacy_receipts")
    op.drop_table("privacy_receipts")
    op.drop_table("opted_out_subjects")
    # Digests cannot be turned back into tokens: the downgraded table starts empty.
    op.drop_table("forgotten_subjects")
    op.create_table(
        "forgotten_subjects",
        sa.Column("subject_token", sa.String(length=128), primary_key=True),
        sa.Column("forgotten_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_records", sa.Integer(), nullable=False),
    )
