"""The curated store's bulk path on SQLite: every row lands, and the raised page cache is put back."""

from __future__ import annotations

from sqlalchemy import func, select

from crucible.common.registry import DatasetMember, Registry
from crucible.dataset.store import copy_rows


def test_members_bulk_insert_lands_every_row_and_restores_the_page_cache(tmp_path) -> None:
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    reg.migrate()
    rows = [("v1_20261204", f"rec-{i:06d}", "train", f"subject-{i * 7919 % 1000:04d}") for i in range(45_000)]
    with reg.session() as s:
        before = s.connection().exec_driver_sql("PRAGMA cache_size").scalar()
        assert copy_rows(s, DatasetMember.__table__, ("version", "record_id", "split", "subject_token"), rows) == 45_000
        after = s.connection().exec_driver_sql("PRAGMA cache_size").scalar()
    assert after == before
    with reg.session() as s:
        assert s.scalar(select(func.count()).select_from(DatasetMember)) == 45_000
        assert s.scalar(select(DatasetMember.subject_token).where(DatasetMember.record_id == "rec-000003")) == (
            "subject-0757"
        )
