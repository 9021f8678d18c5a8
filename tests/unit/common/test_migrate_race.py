"""Several services starting at once on a fresh SQLite registry each run the migrations (issue 25,
item 13): none may crash with "table already exists", and the schema ends complete."""

from __future__ import annotations

import multiprocessing as mp
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import inspect

from crucible.common.registry import Registry

STARTERS = 6


def _start(url: str, barrier: mp.synchronize.Barrier, errors: mp.Queue) -> None:  # type: ignore[name-defined]
    try:
        registry = Registry(url)
        barrier.wait(timeout=30)
        registry.migrate()
    except BaseException as exc:  # report every failure to the parent
        errors.put(f"{type(exc).__name__}: {exc}")
    else:
        errors.put("")


def test_concurrent_first_start_migrates_once(tmp_path: Path) -> None:
    race(f"sqlite:///{tmp_path / 'registry.db'}")


def test_concurrent_first_start_on_postgresql_migrates_once(postgres_url: str) -> None:
    """The same on a fresh PostgreSQL database (an advisory lock there)."""
    name = f"race_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        race(sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def race(url: str) -> None:
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(STARTERS)
    errors = ctx.Queue()
    procs = [ctx.Process(target=_start, args=(url, barrier, errors)) for _ in range(STARTERS)]
    for p in procs:
        p.start()
    outcomes = [errors.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert [o for o in outcomes if o] == []
    assert all(p.exitcode == 0 for p in procs)
    registry = Registry(url)
    tables = set(inspect(registry.engine).get_table_names())
    registry.dispose()
    assert {"runs", "watermarks", "curated_records", "alembic_version"} <= tables
