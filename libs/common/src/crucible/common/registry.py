"""The registry: runs, watermarks, rejections, the review queue, the curated store,
dataset versions, models and training jobs.

SQLAlchemy 2 models; the schema is owned by Alembic migrations (`migrations/`), applied
on start-up by `Registry.migrate()`. SQLite by default, PostgreSQL when
`CRUCIBLE_DATABASE_URL` is set. Writes that may be redelivered are upserts by key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class Run(Base):
    __tablename__ = "runs"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="running")
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Watermark(Base):
    """Per source table: the highest (created_at, key) already extracted."""

    __tablename__ = "watermarks"
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_created_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_key: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class RejectionRow(Base):
    """A record a stage refused. No record content: a raw record may carry PII."""

    __tablename__ = "rejections"
    stage: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    subject_token: Mapped[str] = mapped_column(String(128), default="", index=True)
    # Serialized (scrubbed) record, for stages after the scrubber only: audit trail.
    record: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewItem(Base):
    """A record held for a person to decide on (the scorer's review queue)."""

    __tablename__ = "review_queue"
    record_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    stage: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    subject_token: Mapped[str] = mapped_column(String(128), default="", index=True)
    record: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    decided_by: Mapped[str] = mapped_column(String(128), default="")
    decision_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CuratedRecord(Base):
    """The curated store: scrubbed, scored, dedup-marked records with their lineage."""

    __tablename__ = "curated_records"
    record_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    subject_token: Mapped[str] = mapped_column(String(128), index=True)
    source_table: Mapped[str] = mapped_column(String(200))
    source_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(64), default="", index=True)
    quality: Mapped[float] = mapped_column(Float, default=0.0)
    cluster_id: Mapped[str] = mapped_column(String(128), default="", index=True)
    duplicate_of: Mapped[str] = mapped_column(String(128), default="")
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    stage_versions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    record: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    manifest_uri: Mapped[str] = mapped_column(Text, default="")
    manifest_sha256: Mapped[str] = mapped_column(String(64), default="")
    fairness_score: Mapped[float] = mapped_column(Float, default=0.0)
    below_fairness_target: Mapped[bool] = mapped_column(Boolean, default=False)
    contains_forgotten_subject: Mapped[bool] = mapped_column(Boolean, default=False)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DatasetMember(Base):
    __tablename__ = "dataset_members"
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    split: Mapped[str] = mapped_column(String(16))
    subject_token: Mapped[str] = mapped_column(String(128), default="")
    __table_args__ = (Index("ix_dataset_members_subject", "subject_token"),)


class TrainingJob(Base):
    __tablename__ = "training_jobs"
    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str] = mapped_column(Text, default="")
    dataset_version: Mapped[str] = mapped_column(String(64), default="")
    base_model: Mapped[str] = mapped_column(Text, default="")
    last_checkpoint: Mapped[str] = mapped_column(Text, default="")
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    model_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ModelVersion(Base):
    __tablename__ = "models"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str] = mapped_column(String(64), default="")
    base_model: Mapped[str] = mapped_column(Text, default="")
    dataset_version: Mapped[str] = mapped_column(String(64), default="")
    # The lifecycle (crucible.common.lifecycle): trained -> evaluated|rejected -> canary -> serving -> retired,
    # or canary -> rolled_back. Change it only through `lifecycle.transition`, which logs who and why.
    status: Mapped[str] = mapped_column(String(32), default="trained")
    # The serving pool (one base model, many adapters) the model is built for; at most one `serving` per pool.
    pool: Mapped[str] = mapped_column(String(64), default="default")
    # The rollouts of this model as the gateway decided them: [{rollout_id, state, decisions: [...]}].
    rollouts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    adapter_uri: Mapped[str] = mapped_column(Text, default="")
    merged_uri: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    card: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evaluation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    contains_forgotten_subject: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (
        # The database itself refuses a second `serving` model in a pool (two gateway replicas racing).
        Index(
            "uq_models_one_serving_per_pool",
            "pool",
            unique=True,
            sqlite_where=text("status = 'serving'"),
            postgresql_where=text("status = 'serving'"),
        ),
    )


class ModelTransition(Base):
    """One lifecycle change of a model: from, to, when, why, and which component caused it."""

    __tablename__ = "model_transitions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(200), index=True)
    from_status: Mapped[str] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(128), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ForgottenSubject(Base):
    """A forgotten person, by `privacy_keys.subject_digest(token)` (never the token: after forget,
    nothing but a one-way digest of it remains). Intake and extraction check it."""

    __tablename__ = "forgotten_subjects"
    subject_digest: Mapped[str] = mapped_column(String(128), primary_key=True)
    forgotten_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    removed_records: Mapped[int] = mapped_column(Integer, default=0)


class OptedOutSubject(Base):
    """The opt-out list (CCPA), by subject digest: never extracted, interactions never published."""

    __tablename__ = "opted_out_subjects"
    subject_digest: Mapped[str] = mapped_column(String(128), primary_key=True)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    requested_by: Mapped[str] = mapped_column(String(128), default="")


class PrivacyReceipt(Base):
    """The append-only privacy audit log: one row per forget (and retention run), what was removed
    where and when, by store. No personal data: counts, version and model names, a subject digest.
    Nothing in the platform updates or deletes these rows."""

    __tablename__ = "privacy_receipts"
    receipt_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(32))
    subject_digest: Mapped[str] = mapped_column(String(128), default="", index=True)
    requested_by: Mapped[str] = mapped_column(String(128), default="")
    receipt: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class HumanRating(Base):
    """One person's rating of one blinded item of a human-evaluation sample (`crucible eval sample`):
    `preferred` ("1" | "2" | "tie" | "") and `ratings` {"1": {scale: value}, "2": {...}} as in the
    rating file. One row per (sample, item, rater): rating again replaces it."""

    __tablename__ = "human_ratings"
    sample_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    rater: Mapped[str] = mapped_column(String(128), primary_key=True)
    preferred: Mapped[str] = mapped_column(String(8), default="")
    ratings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """Who did what through the web console (review decisions, ratings, rollout actions, logins)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(32), default="")
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(String(32), default="ok")
    detail: Mapped[str] = mapped_column(Text, default="")


class DiversitySnapshot(Base):
    """The scorer's running diversity counts after a batch (version 0: seeded from the curated
    store). Records are scored against a snapshot, never a moving count, so a redelivered record
    gets the same answer (`crucible.scorer.diversity_state`)."""

    __tablename__ = "scorer_diversity_snapshots"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DiversityDecision(Base):
    """The snapshot a version of a record (`key`: record id, or id@revision) was first scored
    against, and whether its observation went into the counts (once per record id)."""

    __tablename__ = "scorer_diversity_decisions"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer, index=True)
    observed: Mapped[bool] = mapped_column(Boolean, default=False)


MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Registry:
    """Engine + sessions + migrations for one registry database."""

    def __init__(self, url: str) -> None:
        self.url = url
        connect_args: dict[str, Any] = {}
        if url.startswith("sqlite"):
            # Workers run in threads; SQLite serialises writers, so wait instead of failing.
            connect_args = {"check_same_thread": False, "timeout": 30}
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, connect_args=connect_args, future=True)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema to the newest migration of every branch (idempotent). Services that
        own tables add their migrations as a branch off 0001, so they never race for one chain."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        # Several services start at once on a fresh registry: without a lock each sees no
        # alembic_version and all but one crash on "table already exists" (issue 25).
        with _migration_lock(self.url), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Held to the end of this transaction: the other starters wait, then find it done.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as s:
            yield s

    def erase_deleted(self, tables: list[str]) -> None:
        """Make deleted rows unreadable on disk too (after a forget): SQLite zeroes freed pages
        (`secure_delete`, set on every connection) and folds the write-ahead log, which still holds
        the old pages, back into the file; PostgreSQL vacuums the tables (dead tuples go)."""
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif dialect == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in tables:
                    conn.exec_driver_sql(f"VACUUM {table}")

    def dispose(self) -> None:
        self.engine.dispose()


# pg_advisory_xact_lock's key for migrations: any fixed 64-bit number that no other lock uses.
MIGRATION_LOCK_KEY = 0x43_52_55_43_49_42_4C_45  # "CRUCIBLE"


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """An exclusive lock beside a SQLite file (SQLite is one host's, so a file lock covers every
    process that can open it); nothing for other databases (they lock inside the transaction)."""
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
    if not path or path == ":memory:":
        yield
        return
    import fcntl

    with open(f"{path}.migrate.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    # Deleted content is overwritten, not left in free pages (the right to deletion, byte for byte).
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()
