"""Extraction watermarks in the registry: per (source database, table), the highest
(created_at, key) already published. The next run reads only rows after it."""

from __future__ import annotations

import datetime as dt

from crucible.common.registry import Registry, Watermark

Cursor = tuple[dt.datetime, str]


def load_watermark(registry: Registry, source: str, table: str) -> Cursor | None:
    with registry.session() as s:
        row = s.get(Watermark, (source, table))
        if row is None or row.last_created_at is None:
            return None
        at = row.last_created_at
        # SQLite returns naive datetimes: they were stored as UTC.
        return (at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)), row.last_key


def save_watermark(registry: Registry, source: str, table: str, cursor: Cursor) -> None:
    """Move the watermark forward to `cursor` (never backwards: a replayed chunk is a no-op)."""
    at, key = cursor
    with registry.session() as s:
        row = s.get(Watermark, (source, table))
        if row is None:
            s.add(Watermark(source=source, table_name=table, last_created_at=at, last_key=key))
            return
        if row.last_created_at is not None:
            current = row.last_created_at
            current = current.replace(tzinfo=dt.UTC) if current.tzinfo is None else current
            if (current, _key_order(row.last_key)) >= (at, _key_order(key)):
                return
        row.last_created_at = at
        row.last_key = key


def reset_watermarks(registry: Registry, source: str, tables: list[str] | None = None) -> int:
    """Forget the watermarks of `source` (all tables, or some): the next run re-extracts the window."""
    with registry.session() as s:
        query = s.query(Watermark).filter(Watermark.source == source)
        if tables:
            query = query.filter(Watermark.table_name.in_(tables))
        return query.delete(synchronize_session=False)


def _key_order(key: str) -> tuple[int, int | str]:
    # Integer keys compare as numbers ("10" after "9"), like the source's ORDER BY id.
    return (0, int(key)) if key.isdigit() else (1, key)
