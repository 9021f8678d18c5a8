"""Privacy kernel: digests, the opt-out list and its cached check, receipts, export, retention
(exact ages, dry run removes nothing), and the registry of subject stores."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from google.protobuf.json_format import ParseDict
from sqlalchemy import func, select
from typer.testing import CliRunner

from crucible.common.excluded_subjects import ExcludedSubjects
from crucible.common.forgetting import forget_subject_everywhere, receipts_for
from crucible.common.optout import add_optout, list_optouts, remove_optout
from crucible.common.privacy_keys import subject_digest, subject_token
from crucible.common.registry import PrivacyReceipt, RejectionRow, ReviewItem, Run
from crucible.common.retention import run_retention
from crucible.common.store_registry import all_stores
from crucible.common.subject_export import export_subject
from crucible.common.subject_stores import REVIEW_STORE, RUNS_STORE
from crucible.v1 import events_pb2, records_pb2

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _record(rid: str, token: str, text: str) -> bytes:
    r = records_pb2.Record(record_id=rid, subject_token=token)
    r.turns.add(role="user", text=text)
    return r.SerializeToString()


def test_digest_is_one_way_and_stable() -> None:
    token = subject_token(b"s", "user-1")
    assert subject_digest(token) == subject_digest(token) != token
    assert token not in subject_digest(token)
    with pytest.raises(ValueError):
        subject_digest("")


def test_optout_list_and_the_cached_check(runtime) -> None:
    token = subject_token(runtime.subject_secret(), "user-7")
    check = ExcludedSubjects(runtime.registry, refresh_seconds=3600)
    assert not check.excludes(token)
    assert add_optout(runtime.registry, token, "test") and not add_optout(runtime.registry, token)
    assert not check.excludes(token)  # cached until refreshed or told
    event = events_pb2.SubjectOptOut(subject_digest=subject_digest(token), opted_out=True)
    check.apply_optout_event(event.SerializeToString())
    assert check.excludes(token)
    assert [r["subject_digest"] for r in list_optouts(runtime.registry)] == [subject_digest(token)]
    assert remove_optout(runtime.registry, token) and not remove_optout(runtime.registry, token)
    check.apply_optout_event(events_pb2.SubjectOptOut(subject_digest=subject_digest(token)).SerializeToString())
    assert not check.excludes(token)
    forget = events_pb2.SubjectForget(subject_token=token)
    check.apply_forget_event(forget.SerializeToString())
    assert check.excludes(token)


def test_forget_receipt_has_counts_and_no_personal_data(runtime) -> None:
    token = subject_token(runtime.subject_secret(), "user-3")
    with runtime.registry.session() as s:
        s.add(ReviewItem(record_id="rid-aaaa", stage="scorer", reason="unsafe", subject_token=token,
                         record=_record("rid-aaaa", token, "Quuxly private words")))  # fmt: skip
        s.add(RejectionRow(stage="scorer", record_id="rid-bbbb", reason="low", subject_token=token))
        s.add(ReviewItem(record_id="other", stage="scorer", reason="unsafe", subject_token="x", record=b""))
    receipt = asyncio.run(forget_subject_everywhere(runtime, token, stores=[REVIEW_STORE]))
    assert receipt["stores"]["review"] == {"review_items": 1, "rejections": 1}
    assert receipt["record_count"] == 2
    text = json.dumps(receipt)
    for needle in (token, "rid-aaaa", "rid-bbbb", "Quuxly"):
        assert needle not in text
    assert receipts_for(runtime.registry, subject_digest(token)) == [receipt]
    with runtime.registry.session() as s:
        assert s.scalar(select(func.count()).select_from(ReviewItem)) == 1  # the other person's stays


def test_export_round_trips_what_is_stored(runtime) -> None:
    token = subject_token(runtime.subject_secret(), "user-5")
    blob = _record("rid-1", token, "Fizzwick asked about chores")
    with runtime.registry.session() as s:
        s.add(ReviewItem(record_id="rid-1", stage="scorer", reason="unsafe", subject_token=token, record=blob))
    add_optout(runtime.registry, token)
    data = asyncio.run(export_subject(runtime, token, stores=[REVIEW_STORE]))
    data = json.loads(json.dumps(data))
    item = data["stores"]["review"]["review_items"][0]
    assert item["record_id"] == "rid-1" and item["reason"] == "unsafe"
    # Round trip: the exported record parses back into exactly the stored one.
    assert ParseDict(item["record"], records_pb2.Record()) == records_pb2.Record.FromString(blob)
    assert data["opt_out"]["opted_out"] is True and data["subject_token"] == token


def _review_rows(runtime, ages_days: list[float]) -> None:
    with runtime.registry.session() as s:
        for i, age in enumerate(ages_days):
            at = NOW - dt.timedelta(days=age)
            s.add(ReviewItem(record_id=f"r{i}", stage="scorer", reason="x", record=b"", created_at=at))
            s.add(RejectionRow(stage="scorer", record_id=f"r{i}", reason="x", created_at=at))


def test_retention_removes_exactly_what_is_older_and_dry_run_nothing(runtime) -> None:
    _review_rows(runtime, [89.9, 90.1, 200, 10])
    with runtime.registry.session() as s:
        s.add(Run(run_id="old", started_at=NOW - dt.timedelta(days=91)))
        s.add(Run(run_id="new", started_at=NOW - dt.timedelta(days=1)))
    stores = [REVIEW_STORE, RUNS_STORE]
    dry = asyncio.run(run_retention(runtime, dry_run=True, now=NOW, stores=stores))
    assert dry["stores"]["review"] == {"review_items": 2, "rejections": 2}
    assert dry["stores"]["runs"]["runs"] == 1
    with runtime.registry.session() as s:
        assert s.scalar(select(func.count()).select_from(ReviewItem)) == 4
        assert s.scalar(select(func.count()).select_from(Run)) == 2
        assert s.scalar(select(func.count()).select_from(PrivacyReceipt)) == 0  # a dry run leaves no receipt
    done = asyncio.run(run_retention(runtime, now=NOW, stores=stores))
    assert done["stores"] == dry["stores"]
    with runtime.registry.session() as s:
        assert sorted(s.scalars(select(ReviewItem.record_id))) == ["r0", "r3"]
        assert sorted(s.scalars(select(RejectionRow.record_id))) == ["r0", "r3"]
        assert list(s.scalars(select(Run.run_id))) == ["new"]
        assert s.scalar(select(func.count()).select_from(PrivacyReceipt)) == 1


def test_every_installed_store_is_registered_once() -> None:
    names = [s.name for s in all_stores()]
    assert {"review", "runs", "bus", "dataset", "dedup"} <= set(names)
    assert len(names) == len(set(names))


def test_cli_optout_and_retention_dry_run(runtime, settings, monkeypatch, tmp_path) -> None:
    from crucible.common.cli import build_app

    monkeypatch.setenv("CRUCIBLE_HOME", str(settings.home))
    monkeypatch.setenv("CRUCIBLE_SUBJECT_SECRET", settings.subject_secret)
    for var in ("CRUCIBLE_DATABASE_URL", "CRUCIBLE_ARTIFACTS_URL", "CRUCIBLE_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    app = build_app()
    run = CliRunner().invoke
    added = run(app, ["optout", "add", "--user-id", "user-11", "--no-publish"])
    assert added.exit_code == 0, added.output
    listed = run(app, ["optout", "list", "--json"])
    token = subject_token(settings.subject_secret.encode(), "user-11")
    assert [r["subject_digest"] for r in json.loads(listed.stdout)] == [subject_digest(token)]
    assert "user-11" not in listed.stdout and token not in listed.stdout
    metrics = tmp_path / "retention.prom"
    dry = run(app, ["retention", "run", "--dry-run", "--no-publish", "--json", "--metrics-file", str(metrics)])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["dry_run"] is True
    assert "crucible_retention_items" in metrics.read_text()
    out = tmp_path / "export.json"
    exported = run(app, ["export", "--user-id", "user-11", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert json.loads(out.read_text())["opt_out"]["opted_out"] is True


def test_the_gateway_seam_follows_the_events(runtime) -> None:
    from crucible.common.excluded_subjects import interaction_allowed, on_forget_event, on_optout_event

    token = subject_token(runtime.subject_secret(), "user-21")
    assert interaction_allowed(runtime, token)
    optout = events_pb2.SubjectOptOut(subject_digest=subject_digest(token), opted_out=True).SerializeToString()
    asyncio.run(on_optout_event(runtime, optout))
    assert not interaction_allowed(runtime, token)
    asyncio.run(
        on_optout_event(runtime, events_pb2.SubjectOptOut(subject_digest=subject_digest(token)).SerializeToString())
    )
    assert interaction_allowed(runtime, token)
    asyncio.run(on_forget_event(runtime, events_pb2.SubjectForget(subject_token=token).SerializeToString()))
    assert not interaction_allowed(runtime, token)


def test_cli_forget_prints_a_receipt_without_the_person(runtime, settings, monkeypatch) -> None:
    from crucible.common.cli import build_app

    monkeypatch.setenv("CRUCIBLE_HOME", str(settings.home))
    monkeypatch.setenv("CRUCIBLE_SUBJECT_SECRET", settings.subject_secret)
    for var in ("CRUCIBLE_DATABASE_URL", "CRUCIBLE_ARTIFACTS_URL", "CRUCIBLE_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    token = subject_token(settings.subject_secret.encode(), "user-12")
    with runtime.registry.session() as s:
        s.add(ReviewItem(record_id="rid-zz", stage="scorer", reason="unsafe", subject_token=token,
                         record=_record("rid-zz", token, "Blorptastic words")))  # fmt: skip
    result = CliRunner().invoke(build_app(), ["forget", "--user-id", "user-12", "--no-publish", "--json"])
    assert result.exit_code == 0, result.output
    receipt = json.loads(result.stdout)
    assert receipt["stores"]["review"]["review_items"] == 1
    assert receipt["stores"]["bus"] == {
        "skipped": "no bus connected (--no-publish)",
        "forget_event": "not published (no bus)",
    }
    for needle in ("user-12", token, "rid-zz", "Blorptastic"):
        assert needle not in result.output


def test_migration_turns_forgotten_tokens_into_digests(tmp_path) -> None:
    from alembic import command
    from alembic.config import Config

    from crucible.common.registry import MIGRATIONS_DIR, ForgottenSubject, Registry

    registry = Registry(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with registry.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql(
            "INSERT INTO forgotten_subjects (subject_token, forgotten_at, removed_records) "
            "VALUES ('raw-token', '2026-01-01 00:00:00', 3)"
        )
    registry.migrate()
    with registry.session() as s:
        rows = s.scalars(select(ForgottenSubject)).all()
        assert [(r.subject_digest, r.removed_records) for r in rows] == [(subject_digest("raw-token"), 3)]
    with registry.engine.connect() as conn:
        assert b"raw-token" not in b"".join(
            str(r).encode() for r in conn.exec_driver_sql("SELECT * FROM forgotten_subjects")
        )
    registry.dispose()


def test_feedback_rows_are_forgotten_exported_and_aged_out(runtime) -> None:
    from crucible.common.feedback import FeedbackRow
    from crucible.common.feedback_subject_store import FEEDBACK_STORE

    token = subject_token(runtime.subject_secret(), "user-31")
    with runtime.registry.session() as s:
        for i, (who, age) in enumerate([(token, 1), (token, 100), ("someone", 100), ("someone", 1)]):
            s.add(FeedbackRow(response_id=f"resp-{i}", record_id=f"rec-{i}", variant="stable", rating=4,
                              subject_token=who, created_at=NOW - dt.timedelta(days=age)))  # fmt: skip
    exported = asyncio.run(export_subject(runtime, token, stores=[FEEDBACK_STORE]))
    assert sorted(r["response_id"] for r in exported["stores"]["feedback"]["feedback"]) == ["resp-0", "resp-1"]
    dry = asyncio.run(run_retention(runtime, dry_run=True, now=NOW, stores=[FEEDBACK_STORE]))
    assert dry["stores"]["feedback"] == {"feedback_rows": 2}
    receipt = asyncio.run(forget_subject_everywhere(runtime, token, stores=[FEEDBACK_STORE]))
    assert receipt["stores"]["feedback"] == {"feedback_rows": 2} and receipt["record_count"] == 2
    done = asyncio.run(run_retention(runtime, now=NOW, stores=[FEEDBACK_STORE]))
    assert done["stores"]["feedback"] == {"feedback_rows": 1}
    with runtime.registry.session() as s:
        assert list(s.scalars(select(FeedbackRow.response_id))) == ["resp-3"]
