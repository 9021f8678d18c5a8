"""The offline commands' files: `-` or nothing is stdin/stdout, a file is written whole or not
at all, a bad path is one line and exit 2, `--json` puts the summary alone on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crucible.common import jsonl_io
from crucible.common.cli import build_app
from crucible.common.errors import UsageError

runner = CliRunner()


def test_paths_are_checked_before_any_work(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("{}\n")
    jsonl_io.check_paths(src, tmp_path / "out.jsonl")
    jsonl_io.check_paths(None, None)
    with pytest.raises(UsageError, match="does not exist"):
        jsonl_io.check_paths(tmp_path / "nope.jsonl", None)
    with pytest.raises(UsageError, match="is a folder"):
        jsonl_io.check_paths(tmp_path, None)
    with pytest.raises(UsageError, match=r"folder .*missing.* does not exist"):
        jsonl_io.check_paths(src, tmp_path / "missing" / "o.jsonl")
    with pytest.raises(UsageError, match="--json"):
        jsonl_io.check_paths(src, Path("-"), as_json=True)


def test_a_failed_write_leaves_no_output_file(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    with pytest.raises(RuntimeError), jsonl_io.open_output(out) as f:
        f.write("half\n")
        raise RuntimeError("stopped")
    assert not out.exists() and not (tmp_path / "o.jsonl.partial").exists()
    with jsonl_io.open_output(out) as f:
        f.write("whole\n")
    assert out.read_text() == "whole\n"


def test_progress_is_silent_off_a_terminal() -> None:
    with jsonl_io.progress("x", 10) as advance:
        advance(5, 1)
    assert list(jsonl_io.tracked(["a\n", "b\n"], lambda _b, _r: None)) == ["a\n", "b\n"]


def test_scrub_and_dedup_read_stdin_and_write_stdout(tmp_path: Path) -> None:
    lines = [{"id": "a", "text": "Call Maria Schmidt at maria@example.com"}, {"id": "b", "text": "nothing here"}]
    stdin = "".join(json.dumps(x) + "\n" for x in lines)
    app = build_app()
    scrubbed = runner.invoke(app, ["scrub"], input=stdin)
    assert scrubbed.exit_code == 0, scrubbed.output
    rows = [json.loads(x) for x in scrubbed.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"] and "maria@example.com" not in rows[0]["scrubbed_text"]
    assert "scrubbed 2 line(s)" in scrubbed.stderr
    deduped = runner.invoke(app, ["dedup", "-", "--out", "-"], input=stdin)
    assert deduped.exit_code == 0, deduped.output
    assert [json.loads(x)["cluster_id"] for x in deduped.stdout.splitlines()] == ["a", "b"]


def test_json_puts_the_summary_alone_on_stdout(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "hello there"}) + "\nnot json\n")
    out = tmp_path / "o.jsonl"
    result = runner.invoke(build_app(), ["scrub", str(src), "--out", str(out), "--json"])
    assert result.exit_code == 1  # a bad line
    assert json.loads(result.stdout) == {"written": 1, "bad_lines": 1, "out": str(out)}
    assert f"{src}:2: skipped" in result.stderr


@pytest.mark.parametrize("command", ["scrub", "score", "dedup"])
def test_a_bad_path_is_one_line_and_exit_2(tmp_path: Path, command: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "hello"}) + "\n")
    result = runner.invoke(build_app(), [command, str(src), "--out", str(tmp_path / "no" / "dir" / "x.jsonl")])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: --out {tmp_path / 'no' / 'dir' / 'x.jsonl'}: folder "
                                          f"{tmp_path / 'no' / 'dir'} does not exist"]  # fmt: skip
    missing = runner.invoke(build_app(), [command, str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and len(missing.stderr.splitlines()) == 1
    assert missing.stderr.startswith("error: IN.jsonl") and "does not exist" in missing.stderr
