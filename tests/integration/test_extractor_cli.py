"""`crucible demo-db` and `crucible extract` as a user runs them (real NATS, real SQLite)."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from crucible.extractor.cli import register


def _report(stdout: str) -> dict:
    """The --json report: the first JSON object on stdout (a log line that a handler set up by an
    earlier test in the same process writes before or after it must not break the parse)."""
    return json.JSONDecoder().raw_decode(stdout[stdout.index("{") :])[0]


def make_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_demo_db_then_extract_twice(tmp_path, monkeypatch, embedded_nats):
    home = tmp_path / "home"
    monkeypatch.setenv("CRUCIBLE_HOME", str(home))
    monkeypatch.setenv("CRUCIBLE_NATS_URL", embedded_nats.url)
    monkeypatch.setenv("CRUCIBLE_LOG_JSON", "false")
    monkeypatch.delenv("CRUCIBLE_SUBJECT_SECRET", raising=False)
    monkeypatch.delenv("CRUCIBLE_SOURCE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    app = make_app()

    out = tmp_path / "custom.db"
    res = runner.invoke(app, ["demo-db", "--users", "15", "--out", str(out), "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["tables"]["couples"] == 7 and out.exists()

    # No source configured: the demo DB is generated in CRUCIBLE_HOME, and a demo secret with it.
    res = runner.invoke(app, ["extract", "--days", "30", "--min-quality", "7.0", "--json"])
    assert res.exit_code == 0, res.output
    first = _report(res.stdout)
    assert (home / "demo.db").exists() and (home / "subject_secret").exists()
    assert first["extracted"] > 0 and first["min_quality"] == 7.0 and first["errors"] == {}

    res = runner.invoke(app, ["extract", "--days", "30", "--tables", "checkins"])
    assert res.exit_code == 0, res.output
    assert "checkins" in res.output and "extracted 0 of 0 rows read" in res.output
    assert f"skipped by watermark {first['tables']['checkins']['in_window']}" in res.output

    res = runner.invoke(app, ["extract", "--source", str(out), "--tables", "checkins,feedback", "--json"])
    assert res.exit_code == 0, res.output
    other = _report(res.stdout)
    assert set(other["tables"]) == {"checkins", "feedback"} and other["extracted"] > 0

    res = runner.invoke(app, ["extract", "--tables", "nope"])
    assert res.exit_code == 2 and "unknown table" in res.output


def test_demo_db_into_postgresql(postgres_url, pg_schema):
    import sqlalchemy as sa

    url, schema = pg_schema("ext_cli")
    res = CliRunner().invoke(make_app(), ["demo-db", "--users", "12", "--out", url])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert "password" not in summary["target"]
    admin = sa.create_engine(postgres_url)
    try:
        with admin.connect() as conn:
            n = conn.execute(sa.text(f"SELECT COUNT(*) FROM {schema}.checkins")).scalar_one()
            assert n == summary["tables"]["checkins"] > 0
            # The sequences moved past the generated ids: the app can keep inserting.
            conn.execute(
                sa.text(f"INSERT INTO {schema}.couples (user_a_id, user_b_id, created_at) VALUES (1, 2, now())")
            )
    finally:
        admin.dispose()
