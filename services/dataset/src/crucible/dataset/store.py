"""The curated store: curated records in the registry, upserted by record_id, with lineage.

Upserts use the database's own `INSERT ... ON CONFLICT` (SQLite and PostgreSQL), so two
replicas writing the same record never race, and an unchanged redelivery writes nothing
(its `updated_at` stays, so it never counts as a new record for the auto-build).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from crucible.common.privacy_keys import subject_digest
from crucible.common.registry import CuratedRecord, DatasetVersion, ForgottenSubject, Registry, utcnow
from crucible.common.stage import Sink, StageResult
from crucible.dataset import __version__
from crucible.v1 import records_pb2

_CHUNK = 500  # rows per statement: well under SQLite's bound-parameter limit (14 columns each)


def stage_versions(record: records_pb2.Record) -> dict[str, str]:
    """Every stage that touched the record, with its version (the last stamp of a stage wins)."""
    versions = {stamp.stage: stamp.version for stamp in record.provenance if stamp.stage}
    versions["dataset"] = __version__
    return versions


def row_from_record(record: records_pb2.Record, now: dt.datetime) -> dict[str, Any]:
    created = record.created_at.ToDatetime(tzinfo=dt.UTC) if record.HasField("created_at") else None
    return {
        "record_id": record.record_id,
        "subject_token": record.subject_token,
        "source_table": record.source.table,
        "source_key": record.source.key,
        "kind": records_pb2.RecordKind.Name(record.kind),
        "category": record.category,
        "quality": float(record.quality.total),
        "cluster_id": record.dedup.cluster_id or record.record_id,
        "duplicate_of": record.dedup.duplicate_of,
        "synthetic": record.source.table == "synthetic",
        "stage_versions": stage_versions(record),
        "record": record.SerializeToString(deterministic=True),
        "created_at": created,
        "updated_at": now,
    }


def forgotten_tokens(session: Session, tokens: Iterable[str]) -> set[str]:
    """Those of `tokens` whose subject is forgotten (the registry keeps digests, never tokens)."""
    by_digest = {subject_digest(t): t for t in set(tokens) if t}
    if not by_digest:
        return set()
    query = select(ForgottenSubject.subject_digest).where(ForgottenSubject.subject_digest.in_(sorted(by_digest)))
    return {by_digest[d] for d in session.scalars(query)}


class _ForgottenCheck:
    """Per-row check for the build's scan: no hashing at all while nobody is forgotten."""

    def __init__(self, session: Session) -> None:
        self.digests = set(session.scalars(select(ForgottenSubject.subject_digest)))
        self._seen: dict[str, bool] = {}

    def __call__(self, token: str) -> bool:
        if not self.digests or not token:
            return False
        hit = self._seen.get(token)
        if hit is None:
            hit = self._seen[token] = subject_digest(token) in self.digests
        return hit


def upsert_records(registry: Registry, records: Sequence[records_pb2.Record]) -> dict[str, int]:
    """Insert or update records by record_id. Records of forgotten subjects are dropped, so a
    late redelivery cannot bring a forgotten person back. Returns counts for logs and tests."""
    if not records:
        return {"written": 0, "skipped_forgotten": 0}
    # The last copy of a record in one batch wins, as it would across batches.
    latest = {r.record_id: r for r in records}
    now = utcnow()
    with registry.session() as session:
        forgotten = forgotten_tokens(session, (r.subject_token for r in latest.values()))
        rows = [row_from_record(r, now) for r in latest.values() if r.subject_token not in forgotten]
        # PostgreSQL takes the whole batch through COPY in one go; SQLite in bounded statements.
        chunk = len(rows) if session.get_bind().dialect.name == "postgresql" else _CHUNK
        for start in range(0, len(rows), max(chunk, 1)):
            _upsert_chunk(session, rows[start : start + chunk])
    return {"written": len(rows), "skipped_forgotten": len(latest) - len(rows)}


def _upsert_chunk(session: Session, rows: list[dict[str, Any]]) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        _upsert_copy(session, rows)
        return
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - other databases: slower, still correct
        for row in rows:
            session.merge(CuratedRecord(**row))
        return
    # Core table + executemany: one compiled statement for the whole chunk (the ORM's multi-VALUES
    # form compiles every row and was 10x slower).
    table = CuratedRecord.__table__
    stmt = insert(table)
    updatable = {c: stmt.excluded[c] for c in rows[0] if c != "record_id"}
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.record_id],
        set_=updatable,
        # Only a changed record is rewritten: an identical redelivery leaves the row untouched.
        where=table.c.record != stmt.excluded.record,
    )
    session.connection().execute(stmt, rows)


def _upsert_copy(session: Session, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: COPY the batch into a temporary table, then one INSERT ... ON CONFLICT from it
    (row-by-row INSERTs cost a round trip and a plan per row)."""
    columns = list(rows[0])
    names = ", ".join(columns)
    cursor = _driver_connection(session).cursor()
    cursor.execute("DROP TABLE IF EXISTS pg_temp.curated_stage")
    cursor.execute(f"CREATE TEMP TABLE curated_stage (LIKE {CuratedRecord.__tablename__}) ON COMMIT DROP")
    _copy(cursor, "curated_stage", columns, (tuple(_copy_value(r[c]) for c in columns) for r in rows))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "record_id")
    cursor.execute(
        f"INSERT INTO {CuratedRecord.__tablename__} ({names}) SELECT {names} FROM curated_stage "
        f"ON CONFLICT (record_id) DO UPDATE SET {updates} WHERE {CuratedRecord.__tablename__}.record <> EXCLUDED.record"
    )
    cursor.execute("DROP TABLE curated_stage")


def copy_rows(session: Session, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
    """Bulk-insert rows (streamed): COPY on PostgreSQL, bounded executemany elsewhere. Returns the count."""
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        return _copy(_driver_connection(session).cursor(), table.name, columns, rows)
    if dialect.name == "sqlite":
        # The driver's executemany on plain tuples, each value through its column type's bind processor
        # (what SQLAlchemy would do): a tenth of the cost of a Core insert with a dict per row, which
        # matters for a version's members (one row per record of the version).
        processors = [table.c[c].type.bind_processor(dialect) for c in columns]
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        if any(processors):
            rows = (tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True)) for row in rows)
        with _sqlite_page_cache(session, _BULK_CACHE_KIB):
            return _executemany_chunks(session, sql, rows)
    stmt = insert(table)  # pragma: no cover - other databases: slower, still correct
    n = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(dict(zip(columns, row, strict=True)))
        if len(chunk) >= 5000:
            session.connection().execute(stmt, chunk)
            n += len(chunk)
            chunk = []
    if chunk:
        session.connection().execute(stmt, chunk)
        n += len(chunk)
    return n


# A version's members land in record-id order, but the subject index takes them in random order: with
# SQLite's default 2 MiB page cache, millions of members turn every insert into page reads and writes.
_BULK_CACHE_KIB = 256 * 1024


@contextmanager
def _sqlite_page_cache(session: Session, kib: int) -> Iterator[None]:
    """SQLite's page cache raised to `kib` for one bulk write, then put back (it is per connection)."""
    cursor = _driver_connection(session).cursor()
    (previous,) = cursor.execute("PRAGMA cache_size").fetchone()
    cursor.execute(f"PRAGMA cache_size = {-int(kib)}")
    try:
        yield
    finally:
        cursor.execute(f"PRAGMA cache_size = {int(previous)}")


def _executemany_chunks(session: Session, sql: str, rows: Iterable[tuple[Any, ...]], size: int = 20_000) -> int:
    cursor = _driver_connection(session).cursor()
    n = 0
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            cursor.executemany(sql, chunk)
            n += len(chunk)
            chunk = []
    if chunk:
        cursor.executemany(sql, chunk)
        n += len(chunk)
    return n


def _driver_connection(session: Session) -> Any:
    """The psycopg connection under the session's (the same transaction)."""
    return session.connection().connection.driver_connection


def _copy(cursor: Any, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
    n = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def _copy_value(value: Any) -> Any:
    if isinstance(value, dict):
        from psycopg.types.json import Json

        return Json(value)
    return value


class CuratedSink(Sink):
    """The worker calls this before acking a batch: kept records go into the curated store."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def persist(self, result: StageResult) -> None:
        upsert_records(self.registry, result.kept)


def iter_eligible_records(registry: Registry, batch_size: int = 2000) -> Iterator[records_pb2.Record]:
    """Every curated record a build may use (forgotten subjects excluded), in record_id order."""
    with registry.session() as session:
        forgotten = _ForgottenCheck(session)
        query = select(CuratedRecord.subject_token, CuratedRecord.record).order_by(CuratedRecord.record_id)
        for token, blob in session.execute(query.execution_options(yield_per=batch_size)):
            if forgotten(token):
                continue
            record = records_pb2.Record()
            record.ParseFromString(blob)
            yield record


def iter_eligible_blobs(registry: Registry, batch_size: int = 2000) -> Iterator[bytes]:
    """The serialized form of `iter_eligible_records` (no parsing here: the build parses as it scans)."""
    with registry.session() as session:
        forgotten = _ForgottenCheck(session)
        query = select(CuratedRecord.subject_token, CuratedRecord.record).order_by(CuratedRecord.record_id)
        for token, blob in session.execute(query.execution_options(yield_per=batch_size)):
            if not forgotten(token):
                yield bytes(blob)


def count_records(registry: Registry) -> int:
    with registry.session() as session:
        return int(session.scalar(select(func.count()).select_from(CuratedRecord)) or 0)


def count_new_since_last_version(registry: Registry) -> int:
    """Records written (new or changed) since the last dataset version was built."""
    with registry.session() as session:
        # SFT versions only: a preference version (`*_pref`) is built from feedback, not the curated store.
        last = session.scalar(
            select(func.max(DatasetVersion.created_at)).where(DatasetVersion.version.not_like("%\\_pref", escape="\\"))
        )
        query = select(func.count()).select_from(CuratedRecord)
        if last is not None:
            query = query.where(CuratedRecord.updated_at > last)
        return int(session.scalar(query) or 0)
