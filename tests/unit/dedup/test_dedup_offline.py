"""`crucible dedup IN.jsonl --out OUT.jsonl`: order kept, fields added, bad lines reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from crucible.dedup.cli import register
from crucible.dedup.corpus import edited_copy


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("version")
    def _version() -> None:  # a second command, so `dedup` stays a named subcommand
        pass

    return app


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_offline_marks_duplicates_in_input_order(
    app: typer.Typer, tmp_path: Path, base_texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no crucible.yaml here: policy defaults
    a, b = base_texts[20], base_texts[21]
    record = {"record_id": "rec-9", "turns": [{"role": "user", "text": edited_copy(b, 1)}], "category": "x"}
    lines = [
        json.dumps({"id": "a", "text": a, "extra": 1}),
        json.dumps({"id": 2, "text": b}),
        "",
        json.dumps({"id": "a-copy", "text": a.upper()}),
        json.dumps(record),
        json.dumps({"id": "empty", "text": ""}),
        json.dumps({"id": "word", "text": "Hi!"}),
    ]
    out = tmp_path / "o.jsonl"
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["dedup", str(_write(tmp_path / "in.jsonl", lines)), "--out", str(out), "--report", str(report), "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.get("id", r.get("record_id")) for r in rows] == ["a", 2, "a-copy", "rec-9", "empty", "word"]
    assert rows[0] == {"id": "a", "text": a, "extra": 1, "cluster_id": "a", "duplicate_of": None, "similarity": 1.0}
    assert (rows[2]["cluster_id"], rows[2]["duplicate_of"], rows[2]["similarity"]) == ("a", "a", 1.0)
    assert rows[3]["duplicate_of"] == "2" and rows[3]["category"] == "x" and 0.85 <= rows[3]["similarity"] < 1
    assert rows[4]["duplicate_of"] is None and rows[5]["duplicate_of"] is None
    summary = json.loads(result.stdout)  # --json: the summary alone on stdout
    assert summary["records"] == 6 and summary["duplicates"] == 2 and summary["bad_lines"] == 0
    data = json.loads(report.read_text())
    assert data["duplicates"] == 2 and {c["cluster_id"] for c in data["clusters"]} == {"a", "2"}


def test_bad_lines_are_reported_with_their_numbers_and_the_rest_is_written(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = [
        json.dumps({"id": "a", "text": "one"}),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"id": "b"}),
        json.dumps({"id": "c", "text": 5}),
        json.dumps({"id": "a", "text": "again"}),
        json.dumps({"text": "no id"}),
        json.dumps({"record_id": "", "turns": []}),
        json.dumps({"id": "d", "text": "two"}),
    ]
    out = tmp_path / "o.jsonl"
    result = CliRunner().invoke(app, ["dedup", str(_write(tmp_path / "in.jsonl", lines)), "--out", str(out)])
    assert result.exit_code == 1
    reported = sorted(int(line.split(":")[1]) for line in result.output.splitlines() if "in.jsonl:" in line)
    assert reported == [2, 3, 4, 5, 6, 7, 8]
    assert "duplicate id 'a'" in result.output and "not valid JSON" in result.output
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["a", "d"]


def test_the_threshold_option_and_policy_file_apply(app: typer.Typer, tmp_path: Path, base_texts: list[str]) -> None:
    a = base_texts[30]
    lines = [json.dumps({"id": "a", "text": a}), json.dumps({"id": "b", "text": edited_copy(a, 4, seed=3)})]
    src = _write(tmp_path / "in.jsonl", lines)

    def dup_of_b(*extra: str) -> str | None:
        out = tmp_path / "o.jsonl"
        result = CliRunner().invoke(app, ["dedup", str(src), "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        return json.loads(out.read_text().splitlines()[1])["duplicate_of"]

    assert dup_of_b("--threshold", "0.7") == "a"
    assert dup_of_b("--threshold", "0.99") is None
    policy = tmp_path / "p.yaml"
    policy.write_text("dedup:\n  threshold: 0.99\nscorer:\n  anything: 1\n")
    import os

    os.environ["CRUCIBLE_POLICY_FILE"] = str(policy)
    try:
        assert dup_of_b() is None
    finally:
        del os.environ["CRUCIBLE_POLICY_FILE"]
